package ballot

import (
	"encoding/binary"
	"testing"
)

func TestTheVoterFilterHoldsEveryKeyAddedAsItGrowsAndFewOthers(t *testing.T) {
	defer func(n uint) { minVoterFilter = n }(minVoterFilter)
	minVoterFilter = 100
	f := newVoterFilter(0)
	key := func(i uint64) []byte { return binary.BigEndian.AppendUint64([]byte{prefixVoter}, i) }
	const n = 20_000
	for i := range uint64(n) {
		f.add(key(i))
		f.add(key(i)) // a re-vote's record: no room taken
	}
	if len(f.filters) < 5 || len(f.filters) > 9 {
		t.Fatalf("%d keys from a capacity of 100 made %d filters, want 8 (each twice the one before)", n, len(f.filters))
	}
	for i := range uint64(n) {
		if !f.mayHold(key(i)) {
			t.Fatalf("key %d was added and the filter says it never was", i)
		}
	}
	false := 0
	for i := uint64(n); i < 2*n; i++ {
		if f.mayHold(key(i)) {
			false++
		}
	}
	// each filter errs on 1 % of the keys never added: 8 of them, on
	// fewer than 8 %
	if false > 8*n/100 {
		t.Fatalf("%d of %d keys never added pass the filter, want under 8%%", false, n)
	}
}
