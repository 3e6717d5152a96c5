package ballot_test

import (
	"crypto/sha256"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

// docs/PROTOCOL.md §14: with no ballot, the app hash is over the root of
// the empty list, SHA-256("").
func TestAppHashOfNoBallotIsOverTheEmptyTree(t *testing.T) {
	empty := sha256.Sum256(nil)
	want := sha256.Sum256(append([]byte(ballot.DomainResults), empty[:]...))
	if ballot.AppHash(nil) != consensus.Hash(want) || ballot.AppHash([]ballot.Results{}) != consensus.Hash(want) {
		t.Fatal("the app hash of no ballot is not SHA-256(domain ‖ SHA-256(\"\"))")
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
	var all []ballot.Results
	for _, e := range es {
		r, _, _ := st.Results(e.Ballot.ID)
		all = append(all, r)
	}
	if got := ballot.AppHash(all); got != st.AppHash() {
		t.Fatalf("the state's app hash %s is not the hash of its results in creation order %s", st.AppHash().Short(), got.Short())
	}
	r := all[3]
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
