package ballot

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cocorico/node/consensus"
)

// The records list of a KVState: its length from the "i" index, its
// leaves gathered from the records a load scans, and the "l" leaves a
// node's list reads back from its store (NewStoredKVState).

// countEntries returns the length of the records list as its index says
// (the first entry absent from it), in about 2·log₂ n reads: what sizes
// the voter filter before the scan that fills it.
func countEntries(kv KVReader) (uint64, error) {
	has := func(e uint64) (bool, error) {
		_, found, err := kv.Get(EntryKey(e))
		return found, err
	}
	hi := uint64(1)
	for {
		found, err := has(hi - 1)
		if err != nil {
			return 0, err
		}
		if !found || hi > 1<<40 {
			break
		}
		hi *= 2
	}
	// entries 0..hi/2-1 are present (or hi is 1), hi-1 is absent: the
	// first absent entry is in [hi/2, hi-1]
	lo := hi / 2
	hi--
	for lo < hi {
		mid := lo + (hi-lo)/2
		found, err := has(mid)
		if err != nil {
			return 0, err
		}
		if found {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// recordLeaves gathers the leaves of the records list as a scan finds
// the records, in any order. Streaming (a node's own store, which holds
// the leaves), it keeps only a digest of the records' leaves; list then
// builds the list from the stored leaves in one scan, in order, holding
// none, if their digest is the same. Otherwise it holds every leaf (32
// bytes a record) to build the list from. A place two records claim, or
// none, makes the digests differ: the load that holds the leaves then
// names it.
type recordLeaves struct {
	stream bool
	b      consensus.MerkleListBuilder // without stream
	n      int                         // with stream: the highest place, plus one
	digest leafDigest                  // with stream
	err    error
}

func (r *recordLeaves) set(entry uint64, key, value []byte) {
	switch {
	case entry > 1<<40:
		r.err = fmt.Errorf("stored record %x: place %d in the records list: the state is damaged", key, entry)
	case r.stream:
		r.n = max(r.n, int(entry)+1)
		r.digest.add(entry, RecordLeaf(key, value))
	case !r.b.Set(int(entry), RecordLeaf(key, value)):
		r.err = fmt.Errorf("stored record %x: place %d in the records list taken twice: the state is damaged", key, entry)
	}
}

// errLeavesDiffer says that the leaves a store holds are not those of its
// records: some are missing or wrong.
var errLeavesDiffer = errors.New("the stored leaves differ from the records'")

// list returns the records list; with put, one that reads its leaves
// from kv, after writing those kv lacks or holds wrong. Streaming, it
// returns errLeavesDiffer instead of writing them.
func (r *recordLeaves) list(kv KVReader, put func([]KV) error) (*consensus.MerkleList, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.stream {
		return r.streamed(kv)
	}
	if i := r.b.Unset(); i >= 0 {
		return nil, fmt.Errorf("no stored record at place %d of the records list: the state is damaged", i)
	}
	if put == nil {
		return r.b.List(), nil
	}
	n := r.b.Len()
	right := make([]uint64, (n+63)/64) // a bit a leaf: stored as it is
	err := kv.Scan([]byte{prefixLeaf}, func(k, v []byte) error {
		if len(k) != 9 {
			return fmt.Errorf("stored leaf %x: no leaf key: the state is damaged", k)
		}
		if e := binary.BigEndian.Uint64(k[1:]); e < uint64(n) && len(v) == consensus.HashSize && consensus.Hash(v) == r.b.Leaf(int(e)) {
			right[e/64] |= 1 << (e % 64)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var writes []KV
	for e := range n {
		if right[e/64]&(1<<(e%64)) == 0 {
			h := r.b.Leaf(e)
			writes = append(writes, KV{LeafKey(uint64(e)), h[:]})
		}
		if len(writes) == 4096 || e == n-1 && len(writes) > 0 {
			if err := put(writes); err != nil {
				return nil, fmt.Errorf("writing the records list's leaves: %w", err)
			}
			writes = writes[:0]
		}
	}
	return r.b.ListReading(leafReader(kv)), nil
}

// streamed builds the list from the leaves kv stores for places 0 … n-1
// (those above, which no record has, are left alone, as list leaves
// them), if they are all there and their digest is the records'.
func (r *recordLeaves) streamed(kv KVReader) (*consensus.MerkleList, error) {
	var (
		stream consensus.MerkleListStream
		stored leafDigest
	)
	err := kv.Scan([]byte{prefixLeaf}, func(k, v []byte) error {
		if len(k) != 9 || len(v) != consensus.HashSize {
			return errLeavesDiffer
		}
		e := binary.BigEndian.Uint64(k[1:])
		switch {
		case e >= uint64(r.n):
			return errEnough
		case e != uint64(stream.Len()):
			return errLeavesDiffer // leaves stream.Len() … e-1 are missing
		}
		h := consensus.Hash(v)
		stored.add(e, h)
		stream.Add(h)
		return nil
	})
	switch {
	case errors.Is(err, errEnough):
	case err != nil:
		return nil, err
	}
	if stream.Len() != r.n || stored != r.digest {
		return nil, errLeavesDiffer
	}
	return stream.ListReading(leafReader(kv)), nil
}

// leafDigest is a digest of a set of (place, leaf) pairs that does not
// depend on their order: the records' leaves come in the order of their
// keys, the stored leaves in the order of their places. Each lane is a
// sum modulo 2⁶⁴ of one 64-bit word of each leaf, the first mixed with
// the leaf's place (splitmix64's finaliser): a leaf missing, changed or
// at another place changes a lane but with a chance of 2⁻⁶⁴. It checks
// a node's own store against what went wrong on its disk or in an older
// build, not against someone forging leaves (who could write the records
// too).
type leafDigest [4]uint64

func (d *leafDigest) add(e uint64, h consensus.Hash) {
	x := binary.LittleEndian.Uint64(h[0:]) ^ e
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	d[0] += x ^ x>>31
	d[1] += binary.LittleEndian.Uint64(h[8:])
	d[2] += binary.LittleEndian.Uint64(h[16:])
	d[3] += binary.LittleEndian.Uint64(h[24:])
}

// errEnough ends a scan that read what it wanted.
var errEnough = errors.New("enough")

// leafReader reads the records list's leaves from kv.
func leafReader(kv KVReader) consensus.LeafReader {
	return func(from int, dst []consensus.Hash) error {
		var after []byte
		if from > 0 {
			after = binary.BigEndian.AppendUint64(nil, uint64(from-1))
		}
		i := 0
		err := kv.ScanAfter([]byte{prefixLeaf}, after, func(k, v []byte) error {
			if len(k) != 9 || binary.BigEndian.Uint64(k[1:]) != uint64(from+i) || len(v) != consensus.HashSize {
				return fmt.Errorf("stored leaf %x where leaf %d should be: the state is damaged", k, from+i)
			}
			dst[i] = consensus.Hash(v)
			if i++; i == len(dst) {
				return errEnough
			}
			return nil
		})
		switch {
		case errors.Is(err, errEnough):
			return nil
		case err == nil:
			return fmt.Errorf("leaf %d is not stored: the state is damaged", from+i)
		}
		return err
	}
}
