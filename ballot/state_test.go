package ballot_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
)

func TestEachVoterKeyCountsOnceWithItsLatestCast(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Revote: true, Seed: 30})
	st := ballot.NewMemState()
	applyBlock(t, st, 1, 1000, e.DefinitionTx())
	v1, v2, v3 := e.NewVoter(), e.NewVoter(), e.NewVoter()
	first := e.Cast(v1, 1, 0)
	applyBlock(t, st, 2, 2000,
		ballottest.Checked(first), ballottest.Checked(e.Cast(v2, 1, 1)), ballottest.Checked(e.Cast(v3, 1, 1)))
	u := applyBlock(t, st, 3, 4000, ballottest.Checked(e.Cast(v1, 2, 2)), ballottest.Checked(e.Cast(v2, 5, 1)))

	res, _, _ := st.Results(e.Ballot.ID)
	if !slices.Equal(res.Counts, []uint64{0, 2, 1}) || res.Casts != 5 || res.Voters() != 3 {
		t.Fatalf("results %+v", res)
	}
	if !slices.Contains(u.Replaced, first.ID()) {
		t.Fatal("the replaced cast is not marked replaced")
	}
	rec, _, _ := st.Voter(e.Ballot.ID, e.Cast(v1, 2, 2).Key())
	if rec.Seq != 2 || rec.Choice != 2 || rec.Height != 3 || rec.Casts != 2 || rec.Time != 4000 {
		t.Fatalf("voter record %+v", rec)
	}
}

func TestStatefulRulesRejectCastsWithTheirError(t *testing.T) {
	open := ballottest.NewElection(ballottest.Options{Opens: 5000, Closes: 9000, Revote: true, Seed: 31})
	once := ballottest.NewElection(ballottest.Options{Revote: false, Seed: 32})
	st := ballot.NewMemState()
	applyBlock(t, st, 1, 1000, open.DefinitionTx(), once.DefinitionTx())
	v, w := open.NewVoter(), once.NewVoter()
	applyBlock(t, st, 2, 6000, ballottest.Checked(open.Cast(v, 3, 0)), ballottest.Checked(once.Cast(w, 1, 0)))

	cases := map[string]struct {
		cast *ballot.Cast
		time int64
		want error
	}{
		"ballot not open yet":  {open.Cast(open.NewVoter(), 1, 0), 4999, ballot.ErrBallotNotOpen},
		"closed ballot":        {open.Cast(open.NewVoter(), 1, 0), 9000, ballot.ErrBallotClosed},
		"seq replay":           {open.Cast(v, 3, 1), 7000, ballot.ErrSeqReplay},
		"seq lower":            {open.Cast(v, 2, 1), 7000, ballot.ErrSeqReplay},
		"re-vote not allowed":  {once.Cast(w, 2, 1), 7000, ballot.ErrRevoteNotAllowed},
		"re-vote too soon":     {open.Cast(v, 4, 1), 6000 + testRules.App.RevoteIntervalMs - 1, ballot.ErrRevoteTooSoon},
		"ballot never defined": {ballottest.NewElection(ballottest.Options{Seed: 33}).Cast(v, 9, 0), 7000, ballot.ErrUnknownBallot},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := st.AppHash()
			b := ballot.NewBatch(st, testRules, 3, tc.time)
			if err := b.Add(ballottest.Checked(tc.cast)); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			u, err := b.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if u.AppHash != before || len(u.Voters) != 0 {
				t.Fatal("a refused cast changed the state")
			}
		})
	}
}

func TestTheSameCastTwiceInOneBlockIsRefused(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Revote: true, Seed: 34})
	st := ballot.NewMemState()
	applyBlock(t, st, 1, 1000, e.DefinitionTx())
	c := ballottest.Checked(e.Cast(e.NewVoter(), 1, 0))
	b := ballot.NewBatch(st, testRules, 2, 2000)
	if err := b.Add(c); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(c); !errors.Is(err, ballot.ErrSeqReplay) {
		t.Fatalf("got %v", err)
	}
}

// A token re-votes at most max_casts_per_voter times in all, and never
// closer than revote_interval_ms: one token cannot flood the chain.
func TestOneTokenCannotLandMoreCastsThanTheGenesisAllows(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Revote: true, Seed: 35})
	st := ballot.NewMemState()
	applyBlock(t, st, 1, 1000, e.DefinitionTx())
	v := e.NewVoter()
	gap := testRules.App.RevoteIntervalMs
	b := ballot.NewBatch(st, testRules, 2, 2000)
	if err := b.Add(ballottest.Checked(e.Cast(v, 1, 0))); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(ballottest.Checked(e.Cast(v, 2, 1))); !errors.Is(err, ballot.ErrRevoteTooSoon) {
		t.Fatalf("a re-vote in the same block: %v, want ErrRevoteTooSoon", err)
	}
	u, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	st.Apply(u)
	now := int64(2000)
	for seq := uint64(2); seq <= uint64(testRules.App.MaxCastsPerVoter); seq++ {
		now += gap
		applyBlock(t, st, seq+1, now, ballottest.Checked(e.Cast(v, seq, uint32(seq%3))))
	}
	last := uint64(testRules.App.MaxCastsPerVoter)
	b = ballot.NewBatch(st, testRules, last+2, now+10*gap)
	if err := b.Add(ballottest.Checked(e.Cast(v, last+1, 0))); !errors.Is(err, ballot.ErrTooManyCasts) {
		t.Fatalf("cast %d of a token: %v, want ErrTooManyCasts", last+1, err)
	}
	res, _, _ := st.Results(e.Ballot.ID)
	if res.Voters() != 1 || res.Casts != last {
		t.Fatalf("results %+v, want one voter and %d casts", res, last)
	}
}

func TestDefinitionRulesInTheTransition(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Closes: 5000, Seed: 36})
	st := ballot.NewMemState()
	b := ballot.NewBatch(st, testRules, 1, 5000)
	if err := b.Add(e.DefinitionTx()); !errors.Is(err, ballot.ErrBallotClosed) {
		t.Fatalf("definition closing before the block: %v", err)
	}
	applyBlock(t, st, 1, 1000, e.DefinitionTx())
	b = ballot.NewBatch(st, testRules, 2, 2000)
	if err := b.Add(e.DefinitionTx()); !errors.Is(err, ballot.ErrDuplicateBallot) {
		t.Fatalf("second definition: %v", err)
	}
}

func TestAppHashCommitsToTheVoterRecordsNotOnlyToTheResults(t *testing.T) {
	// Two histories reaching the same counts by different paths: the same
	// results, but not the same voter records (heights, times, order).
	e := ballottest.NewElection(ballottest.Options{Revote: true, Seed: 37})
	a, b, c := ballot.NewMemState(), ballot.NewMemState(), ballot.NewMemState()
	for _, st := range []*ballot.MemState{a, b, c} {
		applyBlock(t, st, 1, 1000, e.DefinitionTx())
	}
	v1, v2 := e.NewVoter(), e.NewVoter()
	c1, c2 := ballottest.Checked(e.Cast(v1, 1, 0)), ballottest.Checked(e.Cast(v2, 1, 1))
	applyBlock(t, a, 2, 2000, c1, c2)
	applyBlock(t, c, 2, 2000, c1, c2)
	applyBlock(t, b, 2, 2000, c2)
	applyBlock(t, b, 3, 3000, c1)
	ra, _, _ := a.Results(e.Ballot.ID)
	rb, _, _ := b.Results(e.Ballot.ID)
	if ballot.ResultsLeaf(&ra) != ballot.ResultsLeaf(&rb) {
		t.Fatal("the two histories should reach the same results")
	}
	if a.AppHash() == b.AppHash() {
		t.Fatal("different voter records, same app hash: a snapshot's records could not be checked")
	}
	if a.AppHash() != c.AppHash() {
		t.Fatal("the same blocks gave two app hashes")
	}
	applyBlock(t, a, 3, 5000, ballottest.Checked(e.Cast(v1, 2, 2)))
	if a.AppHash() == c.AppHash() {
		t.Fatal("different results, same app hash")
	}
}
