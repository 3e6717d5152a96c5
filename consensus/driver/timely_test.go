package driver

import (
	"crypto/ed25519"
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/consensus"
)

// settableClock is the validator's clock in these tests: it moves only
// when the test sets it.
type settableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *settableClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// timelyWorld is one validator's driver in a 4-validator chain, with the
// others' keys to play them, and timeouts of an hour so that only the
// messages the test delivers move the validator.
type timelyWorld struct {
	g     *consensus.Genesis
	keys  []ed25519.PrivateKey
	me    uint16
	clock *settableClock
	tr    *recordTransport
	d     *Driver
}

func newTimelyWorld(t *testing.T, now time.Time) *timelyWorld {
	t.Helper()
	g, keys := testGenesis(4)
	g.Params.TimeoutProposeMs, g.Params.TimeoutVoteMs = 3_600_000, 3_600_000
	vs := g.ValidatorSet()
	w := &timelyWorld{g: g, keys: keys, clock: &settableClock{t: now}, tr: &recordTransport{}}
	for i := range uint16(4) { // neither round 0's proposer nor round 1's
		if i != vs.Proposer(1, 0) && i != vs.Proposer(1, 1) {
			w.me = i
			break
		}
	}
	d, err := New(Config{Genesis: g, Key: keys[w.me], StateDir: t.TempDir(), Clock: ClockFunc(w.clock.Now)},
		&recordApp{avail: make(chan struct{}), chainID: g.ChainID}, w.tr)
	if err != nil {
		t.Fatal(err)
	}
	w.d = d
	runDriver(t, d)
	return w
}

// block is a block of height 1 stamped at blockTime (Unix ms).
func (w *timelyWorld) block(blockTime int64) *consensus.Block {
	return &consensus.Block{Header: consensus.Header{ChainID: w.g.ChainID, Height: 1, Time: blockTime,
		TxRoot: consensus.MerkleRoot(nil), Proposer: w.g.ValidatorSet().Proposer(1, 0)}}
}

func (w *timelyWorld) propose(t *testing.T, b *consensus.Block, round uint32, polRound int32) {
	t.Helper()
	proposer := w.g.ValidatorSet().Proposer(1, round)
	p := &consensus.Proposal{Height: 1, Round: round, POLRound: polRound, Block: *b, Validator: proposer}
	p.Sign(w.g.Chain(), w.keys[proposer])
	if err := w.d.Deliver(&consensus.Message{Proposal: p}); err != nil {
		t.Fatal(err)
	}
}

func (w *timelyWorld) vote(t *testing.T, from uint16, typ consensus.VoteType, round uint32, h consensus.Hash) {
	t.Helper()
	v := &consensus.Vote{Type: typ, Height: 1, Round: round, BlockHash: h, Validator: from}
	v.Sign(w.g.Chain(), w.keys[from])
	if err := w.d.Deliver(&consensus.Message{Vote: v}); err != nil {
		t.Fatal(err)
	}
}

// prevote waits for this validator's prevote of round r and returns the
// hash it is for (zero: nil).
func (w *timelyWorld) prevote(t *testing.T, r uint32) consensus.Hash {
	t.Helper()
	var got *consensus.Vote
	waitFor(t, "the validator's prevote", func() bool {
		for _, v := range w.tr.votes() {
			if v.Type == consensus.Prevote && v.Round == r && v.Validator == w.me {
				got = v
				return true
			}
		}
		return false
	})
	return got.BlockHash
}

// now is the validators' wall clock in these tests, ten hours after
// genesis; the chain is at height 0, so parent + 1 ms is genesis + 1 ms.
func timelyNow(g *consensus.Genesis) time.Time { return g.GenesisTime.Add(10 * time.Hour) }

func checkPrevotes(t *testing.T, name string, stamp func(g *consensus.Genesis, now int64) int64, wantBlock bool) {
	t.Run(name, func(t *testing.T) {
		g, _ := testGenesis(4)
		w := newTimelyWorld(t, timelyNow(g))
		b := w.block(stamp(w.g, w.clock.Now().UnixMilli()))
		w.propose(t, b, 0, -1)
		got := w.prevote(t, 0)
		if wantBlock && got != b.Hash() || !wantBlock && !got.IsZero() {
			t.Fatalf("block time %d, clock %d: prevote for %s, want block=%v", b.Header.Time, w.clock.Now().UnixMilli(), got.Short(), wantBlock)
		}
	})
}

// TestProposalStampedBeforeItsTimeIsRefused: a proposer that stamps its
// block with the parent's time + 1 ms while the validators' clocks are
// hours later (to slip casts into a closed ballot) gets a nil prevote; a
// block stamped within msgDelay + precision of the clock is prevoted.
func TestProposalStampedBeforeItsTimeIsRefused(t *testing.T) {
	checkPrevotes(t, "parent + 1 ms", func(g *consensus.Genesis, _ int64) int64 { return g.GenesisTime.UnixMilli() + 1 }, false)
	checkPrevotes(t, "one ms too old", func(g *consensus.Genesis, now int64) int64 {
		return now - g.Params.MsgDelayMs(0) - g.Params.PrecisionMs() - 1
	}, false)
	checkPrevotes(t, "as old as allowed", func(g *consensus.Genesis, now int64) int64 {
		return now - g.Params.MsgDelayMs(0) - g.Params.PrecisionMs()
	}, true)
	checkPrevotes(t, "the clock", func(_ *consensus.Genesis, now int64) int64 { return now }, true)
}

// TestProposalStampedInTheFutureIsRefused: a block stamped more than the
// precision (max_clock_drift_ms) after the validator's clock gets nil.
func TestProposalStampedInTheFutureIsRefused(t *testing.T) {
	checkPrevotes(t, "an hour ahead", func(_ *consensus.Genesis, now int64) int64 { return now + 3_600_000 }, false)
	checkPrevotes(t, "one ms beyond the precision", func(g *consensus.Genesis, now int64) int64 {
		return now + g.Params.PrecisionMs() + 1
	}, false)
	checkPrevotes(t, "at the precision", func(g *consensus.Genesis, now int64) int64 { return now + g.Params.PrecisionMs() }, true)
}

// TestReProposalOfALockedBlockIsNotRecheckedForTimeliness: a quorum
// prevoted a block in round 0 and the validator locked on it; in round 1
// it is re-proposed with POL round 0 while the validator's clock is now
// hours past the block's time. PBTS does not check timeliness again (a
// quorum found it timely in round 0): the validator prevotes it, where
// the same block as a fresh proposal would get nil.
func TestReProposalOfALockedBlockIsNotRecheckedForTimeliness(t *testing.T) {
	g, _ := testGenesis(4)
	w := newTimelyWorld(t, timelyNow(g))
	b := w.block(w.clock.Now().UnixMilli())
	w.propose(t, b, 0, -1)
	if got := w.prevote(t, 0); got != b.Hash() {
		t.Fatalf("round 0: prevote for %s, want the timely block", got.Short())
	}
	others := []uint16{}
	for i := range uint16(4) {
		if i != w.me {
			others = append(others, i)
		}
	}
	// Two more prevotes: a quorum of 3 in round 0; the validator locks.
	w.vote(t, others[0], consensus.Prevote, 0, b.Hash())
	w.vote(t, others[1], consensus.Prevote, 0, b.Hash())
	waitFor(t, "the lock", func() bool { return w.d.Status().LockedRound == 0 })
	// Hours pass; f+1 validators in round 1 pull the validator there.
	w.clock.Set(w.clock.Now().Add(5 * time.Hour))
	w.vote(t, others[0], consensus.Prevote, 1, consensus.Hash{})
	w.vote(t, others[2], consensus.Prevote, 1, consensus.Hash{})
	waitFor(t, "round 1", func() bool { return w.d.Status().Round == 1 })
	w.propose(t, b, 1, 0)
	if got := w.prevote(t, 1); got != b.Hash() {
		t.Fatalf("round 1 re-proposal with POL round 0: prevote for %s, want the locked block", got.Short())
	}
}
