package ballot_test

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

// docs/PROTOCOL.md §14: with no ballot, the app hash is over two empty
// lists, each of root SHA-256("").
func TestAppHashOfNoBallotIsOverTwoEmptyTrees(t *testing.T) {
	empty := sha256.Sum256(nil)
	want := sha256.Sum256(append(append([]byte(ballot.DomainState), empty[:]...), empty[:]...))
	if ballot.EmptyAppHash() != consensus.Hash(want) || ballot.NewMemState().AppHash() != consensus.Hash(want) {
		t.Fatal("the app hash of no ballot is not SHA-256(domain ‖ SHA-256(\"\") ‖ SHA-256(\"\"))")
	}
}

// The records list holds every record a node needs to go on applying
// blocks, in creation order: the ballot record (its keyring after it for a
// sealed ballot), then each voter key's record when it first casts. A
// re-vote changes its key's leaf in place. The app hash is recomputed here
// from the stored records, independently of the batch's edits.
func TestTheRecordsListHoldsEveryRecordInCreationOrderAndReVotesChangeTheirLeafInPlace(t *testing.T) {
	st := ballot.NewMemState()
	e := ballottest.NewElection(ballottest.Options{Revote: true, Seed: 77})
	v1, v2 := e.NewVoter(), e.NewVoter()
	u1 := applyBlock(t, st, 1, 1000, e.DefinitionTx())
	u2 := applyBlock(t, st, 2, 2000, ballottest.Checked(e.Cast(v1, 1, 0)), ballottest.Checked(e.Cast(v2, 1, 1)))
	u3 := applyBlock(t, st, 3, 9000, ballottest.Checked(e.Cast(v1, 2, 2)))
	if u1.FirstEntry != 0 || len(u1.NewRecords) != 1 || u2.FirstEntry != 1 || len(u2.NewRecords) != 2 || len(u3.NewRecords) != 0 {
		t.Fatalf("new records per block: %d at %d, %d at %d, %d: want 1 at 0, 2 at 1, 0",
			len(u1.NewRecords), u1.FirstEntry, len(u2.NewRecords), u2.FirstEntry, len(u3.NewRecords))
	}
	// The writes of the three blocks, last value per key, give the state.
	state := map[string][]byte{}
	for _, u := range []*ballot.Update{u1, u2, u3} {
		for _, w := range u.Writes() {
			state[string(w.Key)] = w.Value
		}
	}
	var leaves []consensus.Hash
	for entry := uint64(0); ; entry++ {
		at, ok := state[string(ballot.EntryKey(entry))]
		if !ok {
			break
		}
		// The entry holds its record, as the record's key holds it
		// (re-voted in block 3: the entry was written again).
		key, value, ok := ballot.EntryRecord(at)
		if !ok || value == nil || !bytes.Equal(value, state[string(key)]) {
			t.Fatalf("entry %d holds %x: want a record key and the value stored at it (%x)", entry, at, state[string(key)])
		}
		leaves = append(leaves, ballot.RecordLeaf(key, value))
	}
	if len(leaves) != 3 {
		t.Fatalf("%d records indexed, want 3 (the ballot and two voters)", len(leaves))
	}
	res, _, _ := st.Results(e.Ballot.ID)
	want := ballot.AppHashOf(consensus.NewMerkleList([]consensus.Hash{ballot.ResultsLeaf(&res)}).Root(), consensus.NewMerkleList(leaves).Root())
	if st.AppHash() != want || u3.AppHash != want {
		t.Fatalf("app hash %s, recomputed from the stored records %s", st.AppHash().Short(), want.Short())
	}
}

// An update's writes come in key order (a ledger's memtable takes them
// faster so), however the block's casts were ordered: Finish leaves them
// as made, and the first Writes sorts them.
func TestAnUpdatesWritesComeInKeyOrder(t *testing.T) {
	st := ballot.NewMemState()
	e := ballottest.NewElection(ballottest.Options{Seed: 78})
	applyBlock(t, st, 1, 1000, e.DefinitionTx())
	var casts []*ballot.Checked
	for i := range 20 {
		casts = append(casts, ballottest.Checked(e.Cast(e.NewVoter(), 1, uint32(i%3))))
	}
	u := applyBlock(t, st, 2, 2000, casts...)
	w := u.Writes()
	if len(w) < 3*len(casts) { // each voter's record, entry and leaf
		t.Fatalf("%d writes for %d new voters, want at least %d", len(w), len(casts), 3*len(casts))
	}
	if !slices.IsSortedFunc(w, func(a, b ballot.KV) int { return bytes.Compare(a.Key, b.Key) }) {
		t.Fatal("the update's writes are not in key order")
	}
	if again := u.Writes(); len(again) != len(w) || &again[0] != &w[0] {
		t.Fatal("a second Writes gave another list")
	}
}

// The app hash is the results list's root: a ballot's results leaf has an
// inclusion proof to it, so one ballot's results can be checked against a
// header without the others'.
func TestResultsOfOneBallotProveIntoTheAppHash(t *testing.T) {
	st := ballot.NewMemState()
	var es []*ballottest.Election
	var defs []*ballot.Checked
	for i := range 5 {
		e := ballottest.NewElection(ballottest.Options{Seed: uint64(60 + i)})
		es, defs = append(es, e), append(defs, e.DefinitionTx())
	}
	applyBlock(t, st, 1, 1000, defs...)
	applyBlock(t, st, 2, 2000, ballottest.Checked(es[3].Cast(es[3].NewVoter(), 1, 2)))
	var leaves []consensus.Hash
	for _, e := range es {
		r, _, _ := st.Results(e.Ballot.ID)
		leaves = append(leaves, ballot.ResultsLeaf(&r))
	}
	if got := ballot.AppHashOf(consensus.NewMerkleList(leaves).Root(), st.RecordsList().Root()); got != st.AppHash() {
		t.Fatalf("the state's app hash %s is not the hash of its results in creation order %s", st.AppHash().Short(), got.Short())
	}
	r, _, _ := st.Results(es[3].Ballot.ID)
	p, err := st.ResultsList().Proof(3)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(ballot.ResultsLeaf(&r), st.ResultsList().Root()); err != nil {
		t.Fatal(err)
	}
	r.Counts[2]++
	if p.Verify(ballot.ResultsLeaf(&r), st.ResultsList().Root()) == nil {
		t.Fatal("changed results still prove into the app hash")
	}
}
