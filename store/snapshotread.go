package store

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// Reading a snapshot: Snapshots.Open hands out a SnapshotReader over the
// snapshot's read-only Pebble DB, opened at the first reader and closed
// when the snapshot is pruned or the snapshots closed (snapshot.go says
// how a snapshot is taken, listed and pruned).

// Open returns a reader of the snapshot at height (ErrNotFound if there
// is none, or it was pruned). The snapshot's read-only Pebble DB is opened
// at its first reader and shared by all; it stays open until the snapshot
// is pruned and its last reader closed, or until Close. The caller must
// Close the reader.
func (s *Snapshots) Open(height uint64) (*SnapshotReader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("open snapshot %d: %w", height, ErrClosed)
	}
	i := slices.IndexFunc(s.snaps, func(sn *snapshot) bool { return sn.height == height })
	if i < 0 {
		return nil, fmt.Errorf("snapshot %d: %w", height, ErrNotFound)
	}
	sn := s.snaps[i]
	if err := s.openDB(sn); err != nil {
		return nil, fmt.Errorf("open snapshot %d: %w", height, err)
	}
	sn.refs++
	return &SnapshotReader{s: s, snap: sn}, nil
}

// openDB opens sn's DB read-only unless it is open. Called with mu held;
// dbMu is never held long (see snapshot.dbMu), so this does not wait on
// readers.
func (s *Snapshots) openDB(sn *snapshot) error {
	sn.dbMu.Lock()
	defer sn.dbMu.Unlock()
	if sn.db != nil {
		return nil
	}
	po := ledgerPebbleOptions(s.cache)
	po.ReadOnly = true
	db, err := openPebble(sn.dir, s.fs, po, &sn.corrupt, s.logger, nil)
	if err != nil {
		return err
	}
	sn.db = db
	return nil
}

// release is a reader's Close: the last reader of a pruned snapshot
// deletes it.
func (s *Snapshots) release(sn *snapshot) {
	s.mu.Lock()
	sn.refs--
	doomed := sn.refs == 0 && sn.pruned && s.held[sn]
	if doomed {
		delete(s.held, sn)
	}
	s.mu.Unlock()
	if doomed {
		s.remove(sn)
	}
}

// SnapshotReader reads the application's state of one snapshot, as it
// was at the snapshot's height. Safe from any goroutine; Close releases it.
type SnapshotReader struct {
	s      *Snapshots
	snap   *snapshot
	closed atomic.Bool
	once   sync.Once
}

// Height returns the snapshot's height.
func (r *SnapshotReader) Height() uint64 { return r.snap.height }

// Get reads a state key (without the ledger's "s/" prefix).
func (r *SnapshotReader) Get(stateKey []byte) ([]byte, bool, error) {
	db, done, err := r.use()
	if err != nil {
		return nil, false, err
	}
	defer done()
	v, found, err := getClone(db, cat(prefixState, stateKey))
	return v, found, r.snap.corrupt.wrap(err)
}

// ScanRange calls fn with every state key in [lower, upper) in increasing
// order (keys without the ledger's "s/" prefix; upper nil is the end of
// the state). fn must not keep the slices; an error from fn ends the scan
// and is returned.
func (r *SnapshotReader) ScanRange(lower, upper []byte, fn func(key, value []byte) error) error {
	db, done, err := r.use()
	if err != nil {
		return err
	}
	defer done()
	hi := upperBound(prefixState)
	if upper != nil {
		hi = cat(prefixState, upper)
	}
	return r.snap.corrupt.wrap(scanRange(db, cat(prefixState, lower), hi, func(k, v []byte) error {
		return fn(k[len(prefixState):], v)
	}))
}

// use returns the DB, counted as in use until done is called, or
// ErrClosed once the reader or the snapshots are closed. It never waits
// for another reader, nor for a close (which refuses it instead).
func (r *SnapshotReader) use() (*pebble.DB, func(), error) {
	if r.closed.Load() {
		return nil, nil, fmt.Errorf("snapshot %d: %w", r.snap.height, ErrClosed)
	}
	sn := r.snap
	sn.dbMu.Lock()
	defer sn.dbMu.Unlock()
	if sn.db == nil {
		return nil, nil, fmt.Errorf("snapshot %d: %w", sn.height, ErrClosed)
	}
	sn.users++
	return sn.db, func() {
		sn.dbMu.Lock()
		if sn.users--; sn.users == 0 && sn.dbFree != nil {
			sn.dbFree.Broadcast()
		}
		sn.dbMu.Unlock()
	}, nil
}

// Close releases the reader; the last reader of a pruned snapshot deletes
// it. Closing again does nothing.
func (r *SnapshotReader) Close() error {
	r.once.Do(func() {
		r.closed.Store(true)
		r.s.release(r.snap)
	})
	return nil
}

// closeDB closes the snapshot's DB if it is open; readers using it finish
// first.
func (sn *snapshot) closeDB() error {
	sn.dbMu.Lock()
	db := sn.db
	sn.db = nil
	for sn.users > 0 {
		sn.cond().Wait()
	}
	sn.dbMu.Unlock()
	if db == nil {
		return nil
	}
	return db.Close()
}

// cond returns dbFree, made at first use; dbMu is held.
func (sn *snapshot) cond() *sync.Cond {
	if sn.dbFree == nil {
		sn.dbFree = sync.NewCond(&sn.dbMu)
	}
	return sn.dbFree
}
