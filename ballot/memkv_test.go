package ballot_test

import (
	"bytes"
	"slices"
	"strings"

	"github.com/cocorico/node/ballot"
)

// memKV is a sorted in-memory key-value store: a ballot.KVReader and a
// ballot.SnapshotReader, as the ledger and its snapshots are. As with
// Pebble, the slices a scan hands to its callback are only valid during
// the call: they are overwritten afterwards, so that code keeping them
// reads garbage and fails its test.
type memKV struct {
	m      map[string][]byte
	sorted []string // the keys in order; nil when a write made it stale
}

var (
	_ ballot.KVReader       = (*memKV)(nil)
	_ ballot.SnapshotReader = (*memKV)(nil)
)

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

// Write stores writes, as a block's batch does.
func (s *memKV) Write(writes []ballot.KV) {
	for _, w := range writes {
		s.m[string(w.Key)] = bytes.Clone(w.Value)
	}
	s.sorted = nil
}

// put is Write for NewStoredKVState.
func (s *memKV) put(writes []ballot.KV) error {
	s.Write(writes)
	return nil
}

func (s *memKV) Get(key []byte) ([]byte, bool, error) {
	v, ok := s.m[string(key)]
	return bytes.Clone(v), ok, nil
}

func (s *memKV) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return s.ScanAfter(prefix, nil, fn)
}

// ScanAfter calls fn for the keys under prefix above prefix ‖ after
// (every key under prefix when after is empty).
func (s *memKV) ScanAfter(prefix, after []byte, fn func(key, value []byte) error) error {
	p := string(prefix)
	from := s.search(p)
	keys := s.keys()
	for ; from < len(keys) && strings.HasPrefix(keys[from], p); from++ {
		if len(after) == 0 || keys[from] > p+string(after) {
			break
		}
	}
	return s.walk(from, func(k string) bool { return strings.HasPrefix(k, p) }, fn)
}

// ScanRange calls fn for every key in [lower, upper).
func (s *memKV) ScanRange(lower, upper []byte, fn func(key, value []byte) error) error {
	return s.walk(s.search(string(lower)), func(k string) bool { return k < string(upper) }, fn)
}

// walk calls fn for the keys from the from-th while in holds, with
// scratch copies overwritten after each call.
func (s *memKV) walk(from int, in func(string) bool, fn func(key, value []byte) error) error {
	var kbuf, vbuf []byte
	for _, k := range s.keys()[from:] {
		if !in(k) {
			break
		}
		kbuf, vbuf = append(kbuf[:0], k...), append(vbuf[:0], s.m[k]...)
		err := fn(kbuf, vbuf)
		for i := range kbuf {
			kbuf[i] = 0xee
		}
		for i := range vbuf {
			vbuf[i] = 0xee
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// search returns the place of the first key at or above k.
func (s *memKV) search(k string) int {
	i, _ := slices.BinarySearch(s.keys(), k)
	return i
}

func (s *memKV) keys() []string {
	if s.sorted == nil {
		s.sorted = make([]string, 0, len(s.m))
		for k := range s.m {
			s.sorted = append(s.sorted, k)
		}
		slices.Sort(s.sorted)
	}
	return s.sorted
}
