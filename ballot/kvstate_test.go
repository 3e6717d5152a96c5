package ballot_test

import (
	"bytes"
	"cmp"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus/canon"
)

// A state loaded from a store rebuilds the records list from the voter,
// ballot and keyring records it scans, in key order: it hashes as the
// state that applied every block, and a store whose records leave a
// place of the list empty, or give one place twice, is refused as
// damaged rather than loaded with another app hash; so is a node's store
// (its leaves stored, those of the sound list: the digests then differ,
// and the load that holds the leaves names the place).
func TestALoadedStateRebuildsTheRecordsListAndRefusesADamagedOne(t *testing.T) {
	f := newSnapFixture(t)
	copyKV := f.copyKV
	refused := func(kv *memKV) []error { // leaves in memory, leaves in the store
		_, inMemory := ballot.NewKVState(testRules, kv, f.height)
		_, stored := ballot.NewStoredKVState(testRules, kv, kv.put, f.height)
		return []error{inMemory, stored}
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
		for _, err := range refused(missing) {
			if err == nil || !strings.Contains(err.Error(), "damaged") {
				t.Fatalf("a store without the voter record at place %d: %v, want it refused as damaged", entry[gone], err)
			}
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
	for _, err := range refused(twice) {
		if err == nil || !strings.Contains(err.Error(), "taken twice") {
			t.Fatalf("a store with two voter records at one place: %v, want it refused as damaged", err)
		}
	}
}

// A node's state, whose records list reads its leaves from the store,
// hashes as the reference state (MemState) after every block of new
// voters and re-votes anywhere in the list (groups of 16 leaves read
// back, the last one partial), and as the state loaded again from the
// store, in both kinds.
func TestAStoredStateReadingItsLeavesHashesAsTheMemStateBlockAfterBlock(t *testing.T) {
	c := newSnapChain(t)
	mem := ballot.NewMemState()
	e := ballottest.NewElection(ballottest.Options{Revote: true, Seed: 93})
	apply := func(tm int64, txs ...*ballot.Checked) {
		t.Helper()
		c.block(t, tm, txs...)
		applyBlock(t, mem, c.height, tm, txs...)
		if c.st.AppHash() != mem.AppHash() {
			t.Fatalf("block %d: the stored state's app hash %s, the MemState's %s", c.height, c.st.AppHash().Short(), mem.AppHash().Short())
		}
	}
	apply(1000, e.DefinitionTx())
	rng := mrand.New(mrand.NewPCG(5, 0))
	var voters []*ballottest.Voter
	seq := map[*ballottest.Voter]uint64{}
	for blk := range 40 {
		var txs []*ballot.Checked
		in := map[*ballottest.Voter]bool{}
		for range 1 + rng.IntN(12) {
			v := e.NewVoter()
			if len(voters) > 0 && rng.IntN(2) == 0 {
				v = voters[rng.IntN(len(voters))]
			} else {
				voters = append(voters, v)
			}
			if in[v] {
				continue
			}
			in[v] = true
			seq[v]++
			txs = append(txs, ballottest.Checked(e.Cast(v, seq[v], uint32(rng.IntN(len(e.Ballot.Def.Choices))))))
		}
		apply(int64(2000+2000*blk), txs...)
	}
	if c.st.RecordsList().Len() < 5*16 {
		t.Fatalf("only %d records: fewer than five groups of leaves", c.st.RecordsList().Len())
	}
	for _, put := range []func([]ballot.KV) error{c.kv.put, nil} {
		loaded, err := ballot.NewStoredKVState(testRules, c.kv, put, c.height)
		if err != nil {
			t.Fatal(err)
		}
		if loaded.AppHash() != mem.AppHash() {
			t.Fatalf("loaded again (leaves read %v): app hash %s, want %s", put != nil, loaded.AppHash().Short(), mem.AppHash().Short())
		}
	}
}

// A store of an older build has no leaves ("l" keys), a damaged one a
// wrong leaf: loading it writes what is missing or wrong, from the
// records, and the state hashes as the one that applied every block.
func TestLoadingAStoreWithoutItsLeavesOrWithAWrongOneWritesThemFromTheRecords(t *testing.T) {
	f := newSnapFixture(t)
	var leafKeys []string
	for k := range f.kv.m {
		if k[0] == 'l' {
			leafKeys = append(leafKeys, k)
		}
	}
	if len(leafKeys) != fixtureRecords {
		t.Fatalf("%d leaves stored for %d records", len(leafKeys), fixtureRecords)
	}
	for name, damage := range map[string]func(kv *memKV){
		"no leaves": func(kv *memKV) {
			for _, k := range leafKeys {
				delete(kv.m, k)
			}
		},
		"a wrong leaf":    func(kv *memKV) { kv.m[string(ballot.LeafKey(17))] = bytes.Repeat([]byte{7}, 32) },
		"a short leaf":    func(kv *memKV) { kv.m[string(ballot.LeafKey(3))] = []byte{1} },
		"the last absent": func(kv *memKV) { delete(kv.m, string(ballot.LeafKey(fixtureRecords-1))) },
		"two swapped": func(kv *memKV) {
			a, b := string(ballot.LeafKey(5)), string(ballot.LeafKey(40))
			kv.m[a], kv.m[b] = kv.m[b], kv.m[a]
		},
		"one above the records": func(kv *memKV) { // left alone: no record has that place
			kv.m[string(ballot.LeafKey(fixtureRecords+3))] = bytes.Repeat([]byte{9}, 32)
		},
	} {
		kv := f.copyKV()
		damage(kv)
		kv.sorted = nil
		loaded, err := ballot.NewStoredKVState(testRules, kv, kv.put, f.height)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, k := range leafKeys {
			if !bytes.Equal(kv.m[k], f.kv.m[k]) {
				t.Fatalf("%s: leaf %x is %x after loading, want %x", name, k, kv.m[k], f.kv.m[k])
			}
		}
		// the next block reads leaves back: it hashes as on the fixture
		u := nextBlock(t, loaded, f)
		want := nextBlock(t, f.st, f)
		if loaded.AppHash() != f.st.AppHash() || u.AppHash != want.AppHash {
			t.Fatalf("%s: the loaded state hashes otherwise", name)
		}
	}
}

// scanCountingKV counts a store's scans of voter records and its writes.
type scanCountingKV struct {
	*memKV
	recordScans, writes int
}

func (c *scanCountingKV) Scan(prefix []byte, fn func(key, value []byte) error) error {
	if len(prefix) == 1 && prefix[0] == 'v' {
		c.recordScans++
	}
	return c.memKV.Scan(prefix, fn)
}

func (c *scanCountingKV) put(writes []ballot.KV) error {
	c.writes += len(writes)
	return c.memKV.put(writes)
}

// A node whose store holds the right leaves loads its state reading each
// record once and writing nothing: its records list is built from the
// stored leaves in one scan, checked against the records' (the stream
// holds none of them: TestMerkleListStream…). A store whose leaves are
// wrong has its records read a second time, holding their leaves, and
// the wrong ones written; it hashes the same.
func TestLoadingAStoreWithItsLeavesReadsTheRecordsOnceAndWritesNothing(t *testing.T) {
	f := newSnapFixture(t)
	for _, damaged := range []bool{false, true} {
		kv := &scanCountingKV{memKV: f.copyKV()}
		if damaged {
			kv.m[string(ballot.LeafKey(30))] = bytes.Repeat([]byte{7}, 32)
		}
		loaded, err := ballot.NewStoredKVState(testRules, kv, kv.put, f.height)
		if err != nil {
			t.Fatal(err)
		}
		wantScans, wantWrites := 1, 0
		if damaged {
			wantScans, wantWrites = 2, 1
		}
		if kv.recordScans != wantScans || kv.writes != wantWrites {
			t.Fatalf("damaged %v: %d scans of the records and %d writes, want %d and %d", damaged, kv.recordScans, kv.writes, wantScans, wantWrites)
		}
		if loaded.AppHash() != f.st.AppHash() || nextBlock(t, loaded, f).AppHash != nextBlock(t, f.st, f).AppHash {
			t.Fatalf("damaged %v: the loaded state hashes otherwise", damaged)
		}
		if err := loaded.Reload(f.height); err != nil || kv.recordScans != wantScans+1 || loaded.AppHash() != f.st.AppHash() {
			t.Fatalf("damaged %v: reloading: %v, %d scans of the records", damaged, err, kv.recordScans)
		}
	}
}

// nextBlock returns the update of the fixture's next block over st,
// without applying it.
func nextBlock(t *testing.T, st *ballot.KVState, f *snapFixture) *ballot.Update {
	t.Helper()
	b := ballot.NewBatch(st, testRules, f.height+1, 11_000)
	for _, tx := range f.next {
		if err := b.Add(tx); err != nil {
			t.Fatal(err)
		}
	}
	u, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// copyKV returns a copy of the fixture's store, to damage.
func (f *snapFixture) copyKV() *memKV {
	kv := newMemKV()
	for k, v := range f.kv.m {
		kv.m[k] = bytes.Clone(v)
	}
	return kv
}
