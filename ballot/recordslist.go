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
// the records, in any order.
type recordLeaves struct {
	b   consensus.MerkleListBuilder
	err error
}

func (r *recordLeaves) set(entry uint64, key, value []byte) {
	if entry > 1<<40 {
		r.err = fmt.Errorf("stored record %x: place %d in the records list: the state is damaged", key, entry)
		return
	}
	if !r.b.Set(int(entry), RecordLeaf(key, value)) {
		r.err = fmt.Errorf("stored record %x: place %d in the records list taken twice: the state is damaged", key, entry)
	}
}

// list returns the records list; with put, one that reads its leaves
// from kv, after writing those kv lacks or holds wrong.
func (r *recordLeaves) list(kv KVReader, put func([]KV) error) (*consensus.MerkleList, error) {
	if r.err != nil {
		return nil, r.err
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
