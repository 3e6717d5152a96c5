package ballot

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/cocorico/node/consensus"
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

// TestAMemStateKeepsEveryFieldOfAVoterRecord fills every field of a
// record (by reflection, so that a field added later is filled too) and
// reads it back: the MemState stores records in a type of its own.
func TestAMemStateKeepsEveryFieldOfAVoterRecord(t *testing.T) {
	for _, sealed := range []bool{true, false} {
		var r VoterRecord
		v := reflect.ValueOf(&r).Elem()
		for i := range v.NumField() {
			f := v.Field(i)
			switch f.Kind() {
			case reflect.Uint64, reflect.Uint32:
				f.SetUint(uint64(i + 1))
			case reflect.Int64:
				f.SetInt(int64(i + 1))
			case reflect.Array:
				f.Index(0).SetUint(uint64(i + 1))
			case reflect.Slice:
				if sealed {
					f.SetBytes([]byte{byte(i + 1)})
				}
			default:
				t.Fatalf("VoterRecord.%s: a kind this test does not fill", v.Type().Field(i).Name)
			}
		}
		m := NewMemState()
		slot := VoterSlot{Ballot: consensus.Hash{1}, Voter: VoterKey{2}}
		m.Apply(&Update{Voters: map[VoterSlot]VoterRecord{slot: r}})
		got, found, err := m.Voter(slot.Ballot, slot.Voter)
		if err != nil || !found || !reflect.DeepEqual(got, r) {
			t.Fatalf("stored %+v, read %+v (found %v, %v)", r, got, found, err)
		}
	}
}
