package ballot

import "github.com/bits-and-blooms/bloom/v3"

// voterFilter answers "has this voter slot no record?" without reading
// the store: a Bloom filter over the state keys of every voter record.
// Most voter reads on the hot paths miss (a first cast, checked at
// arrival on every node and again in each block), and a miss in the
// ledger walks every level of Pebble; the filter answers it from memory
// in a few hashes. A false "maybe" costs one read, never a wrong answer.
//
// It grows as a chain of filters, each twice the capacity of the one
// before, so that adding never rebuilds from the store; a test asks each,
// and each errs on 1 % of the keys never added: a chain grown from 1 M
// keys to 40 M (6 filters) lets up to 6 % of misses through to the store.
// A node that starts sizes one filter for the records it has.
// About 1.2 bytes a key: 75 MB at the reference scale (40 million records).
type voterFilter struct {
	filters []*bloom.BloomFilter
	// capacity of the newest filter, and how many more keys it takes
	// before the next one
	capacity, room uint
}

// voterFilterFP is each filter's false-positive rate at capacity.
const voterFilterFP = 0.01

// minVoterFilter is the capacity of the first filter.
var minVoterFilter uint = 1 << 20

// newVoterFilter returns an empty filter sized for about n keys.
func newVoterFilter(n uint) *voterFilter {
	f := &voterFilter{}
	f.grow(max(n+n/2, minVoterFilter))
	return f
}

func (f *voterFilter) grow(capacity uint) {
	f.filters = append(f.filters, bloom.NewWithEstimates(capacity, voterFilterFP))
	f.capacity, f.room = capacity, capacity
}

// add records key (a key it may hold already takes no room: its bits are
// set). Not safe concurrently with anything.
func (f *voterFilter) add(key []byte) {
	if f.mayHold(key) {
		return
	}
	if f.room == 0 {
		f.grow(2 * f.capacity)
	}
	f.filters[len(f.filters)-1].Add(key)
	f.room--
}

// mayHold reports false when key was never added. Safe concurrently with
// other calls of mayHold.
func (f *voterFilter) mayHold(key []byte) bool {
	for _, b := range f.filters {
		if b.Test(key) {
			return true
		}
	}
	return false
}
