package ballot_test

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus/canon"
)

// A state loaded from a store rebuilds the records list from the voter,
// ballot and keyring records it scans, in key order: it hashes as the
// state that applied every block, and a store whose records leave a
// place of the list empty, or give one place twice, is refused as
// damaged rather than loaded with another app hash.
func TestALoadedStateRebuildsTheRecordsListAndRefusesADamagedOne(t *testing.T) {
	f := newSnapFixture(t)
	copyKV := func() *memKV {
		kv := newMemKV()
		for k, v := range f.kv.m {
			kv.m[k] = bytes.Clone(v)
		}
		return kv
	}
	loaded, err := ballot.NewKVState(testRules, copyKV(), f.height)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.AppHash() != f.st.AppHash() || loaded.RecordsList().Len() != f.st.RecordsList().Len() {
		t.Fatalf("loaded state: app hash %s, %d records; applied: %s, %d", loaded.AppHash().Short(), loaded.RecordsList().Len(), f.st.AppHash().Short(), f.st.RecordsList().Len())
	}

	// the voter records by their place in the list
	var voterKeys []string
	entry := map[string]uint64{}
	for k, v := range f.kv.m {
		if k[0] == 'v' {
			var r ballot.VoterRecord
			if err := canon.Unmarshal(v, &r, 4096); err != nil {
				t.Fatal(err)
			}
			voterKeys, entry[k] = append(voterKeys, k), r.Entry
		}
	}
	slices.SortFunc(voterKeys, func(a, b string) int { return cmp.Compare(entry[a], entry[b]) })
	if len(voterKeys) < 3 || entry[voterKeys[len(voterKeys)-1]] != uint64(f.st.RecordsList().Len()-1) {
		t.Fatalf("%d voter records in the fixture, the last not at the end of the list", len(voterKeys))
	}
	for _, gone := range []string{voterKeys[1], voterKeys[len(voterKeys)-1]} {
		missing := copyKV()
		delete(missing.m, gone)
		if _, err := ballot.NewKVState(testRules, missing, f.height); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("a store without the voter record at place %d: %v, want it refused as damaged", entry[gone], err)
		}
	}

	twice := copyKV()
	var a, b ballot.VoterRecord
	if err := canon.Unmarshal(twice.m[voterKeys[0]], &a, 4096); err != nil {
		t.Fatal(err)
	}
	if err := canon.Unmarshal(twice.m[voterKeys[1]], &b, 4096); err != nil {
		t.Fatal(err)
	}
	b.Entry = a.Entry
	twice.m[voterKeys[1]] = canon.MustMarshal(b)
	if _, err := ballot.NewKVState(testRules, twice, f.height); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("a store with two voter records at one place: %v, want it refused as damaged", err)
	}
}
