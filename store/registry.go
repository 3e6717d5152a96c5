package store

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/cocorico/node/consensus"
)

// Registry is the registrar's own store: its per-ballot private keys, the
// voter roll (code hashes only) and the issuance records, one per voter
// and ballot. Key layout:
//
//	"k/" ‖ key id               → PKCS #8 private key
//	"r/" ‖ voter id             → code hash
//	"i/" ‖ ballot id ‖ voter id → issuance record
type Registry struct {
	db      *pebble.DB
	reserve *diskReserve
	// stripe locks (ballot, voter) pairs; many stripes, so that
	// unrelated voters seldom wait on each other's group commit.
	stripe  [1024]sync.Mutex
	seed    maphash.Seed
	records *groupCommitter

	mu     sync.Mutex
	issued map[consensus.Hash]uint64

	closeOnce sync.Once
	closeErr  error
}

var (
	prefixKey      = []byte("k/")
	prefixRoll     = []byte("r/")
	prefixIssuance = []byte("i/")
)

// OpenRegistry opens or creates the registrar store in dir. Like the
// ledger, it keeps DefaultReserveBytes of disk in reserve
// (store/reserve.go): a full disk stops the process cleanly, and a disk
// without room for the reserve is refused (ErrDiskFull).
func OpenRegistry(dir string, logger *slog.Logger) (*Registry, error) {
	return openRegistry(dir, logger, vfs.Default, DefaultReserveBytes, exitOnFatal)
}

// openRegistry is OpenRegistry on the file system fs (tests: a fake full
// disk), with a reserve of reserveBytes and fatal called when the disk
// fills.
func openRegistry(dir string, logger *slog.Logger, fs vfs.FS, reserveBytes int64, fatal func(string)) (*Registry, error) {
	if logger == nil {
		logger = slog.Default()
	}
	reserve := &diskReserve{what: "registry", size: reserveBytes, fs: fs, logger: logger, fatal: fatal}
	if err := reserve.keep(dir); err != nil {
		return nil, fmt.Errorf("open registry %s: %w", dir, err)
	}
	db, err := openPebble(dir, reserve.wrap(), &pebble.Options{}, &corruption{}, logger, fatal)
	if err != nil {
		return nil, fmt.Errorf("open registry %s: %w", dir, err)
	}
	r := &Registry{db: db, reserve: reserve, seed: maphash.MakeSeed(), issued: map[consensus.Hash]uint64{}}
	// The counts are derived from the records, which are the truth.
	err = r.scan(prefixIssuance, func(k, _ []byte) error {
		if len(k) < consensus.HashSize {
			return fmt.Errorf("%w: issuance key of %d bytes", ErrCorrupt, len(k))
		}
		r.issued[consensus.Hash(k[:consensus.HashSize])]++
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	r.records = openGroupCommitter(db, reserve, func(group []*pendingRecord) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range group {
			r.issued[consensus.Hash(p.key[len(prefixIssuance):][:consensus.HashSize])]++
		}
	})
	return r, nil
}

// Close closes the store; closing it again does nothing.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		r.records.stop()
		r.closeErr = r.db.Close()
	})
	return r.closeErr
}

// PutKey stores a private key under its id, synced.
func (r *Registry) PutKey(id consensus.Hash, pkcs8 []byte) error {
	b := r.db.NewBatch()
	defer b.Close()
	b.Set(cat(prefixKey, id[:]), pkcs8, nil)
	return r.reserve.commit(b, pebble.Sync)
}

// Keys returns every stored private key by id.
func (r *Registry) Keys() (map[consensus.Hash][]byte, error) {
	out := map[consensus.Hash][]byte{}
	err := r.scan(prefixKey, func(k, v []byte) error {
		if len(k) != consensus.HashSize {
			return fmt.Errorf("%w: key id of %d bytes", ErrCorrupt, len(k))
		}
		out[consensus.Hash(k)] = append([]byte(nil), v...)
		return nil
	})
	return out, err
}

// PutVoters adds roll entries (voter id → code hash) that are not there
// yet, in one synced batch, and returns how many were added.
func (r *Registry) PutVoters(entries map[string][]byte) (int, error) {
	b := r.db.NewBatch()
	defer b.Close()
	added := 0
	for id, h := range entries {
		if _, found, err := r.VoterCode(id); err != nil {
			return 0, err
		} else if found {
			continue
		}
		b.Set(cat(prefixRoll, []byte(id)), h, nil)
		added++
	}
	return added, r.reserve.commit(b, pebble.Sync)
}

// HasVoter reports whether a voter id is on the stored roll.
func (r *Registry) HasVoter(id string) (bool, error) {
	_, found, err := r.VoterCode(id)
	return found, err
}

// VoterCode returns a voter's stored code hash.
func (r *Registry) VoterCode(id string) ([]byte, bool, error) {
	return getClone(r.db, cat(prefixRoll, []byte(id)))
}

// AnyVoterCode returns the code hash of one voter on the roll, if any:
// the registrar checks unknown voter ids against a decoy of the same cost.
func (r *Registry) AnyVoterCode() ([]byte, bool, error) {
	var out []byte
	errFound := errors.New("found")
	err := r.scan(prefixRoll, func(_, v []byte) error {
		out = append([]byte(nil), v...)
		return errFound
	})
	if errors.Is(err, errFound) {
		return out, true, nil
	}
	return nil, false, err
}

// Voters returns the number of voters on the roll.
func (r *Registry) Voters() (int, error) {
	n := 0
	err := r.scan(prefixRoll, func(_, _ []byte) error { n++; return nil })
	return n, err
}

// Issue runs decide under the lock of (ballot, voter) with the voter's
// earlier issuance record (nil if none). If decide returns a record, it
// is written, synced, before Issue returns (and before the lock is let
// go): the caller answers the voter only after that, so a crash never
// lets a voter get two tokens. Records of concurrent Issues are synced
// together, one batch per group (groupCommitter).
func (r *Registry) Issue(ballot consensus.Hash, voter string, decide func(prior []byte) (record []byte, err error)) error {
	key := cat(cat(prefixIssuance, ballot[:]), []byte(voter))
	mu := &r.stripe[maphash.Bytes(r.seed, key)%uint64(len(r.stripe))]
	mu.Lock()
	defer mu.Unlock()
	prior, _, err := getClone(r.db, key)
	if err != nil {
		return err
	}
	rec, err := decide(prior)
	if err != nil || rec == nil {
		return err
	}
	if prior != nil {
		return errors.New("registry: decide returned a record over an existing one")
	}
	if err := r.records.commit(key, rec); err != nil {
		return fmt.Errorf("record issuance: %w", err)
	}
	return nil
}

// Issued returns how many tokens were issued for a ballot.
func (r *Registry) Issued(ballot consensus.Hash) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.issued[ballot]
}

func (r *Registry) scan(prefix []byte, fn func(k, v []byte) error) error {
	return scan(r.db, prefix, func(k, v []byte) error { return fn(k[len(prefix):], v) })
}

// scan calls fn with every key under prefix (whole keys) in order.
func scan(db *pebble.DB, prefix []byte, fn func(k, v []byte) error) error {
	return scanRange(db, prefix, upperBound(prefix), fn)
}

// scanRange calls fn for every key in [lower, upper), in order.
func scanRange(db *pebble.DB, lower, upper []byte, fn func(k, v []byte) error) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(it.Key(), v)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

func getClone(db *pebble.DB, key []byte) ([]byte, bool, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}
