package app

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
	"github.com/cocorico/node/store"
)

// sentVotes is a driver.Transport that keeps the votes the driver sends.
type sentVotes struct {
	mu    sync.Mutex
	votes []*consensus.Vote
}

func (s *sentVotes) Broadcast(m *consensus.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Vote != nil {
		s.votes = append(s.votes, m.Vote)
	}
}
func (s *sentVotes) Pull(uint64) {}

func (s *sentVotes) prevote(r uint32) (*consensus.Vote, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.votes {
		if v.Type == consensus.Prevote && v.Round == r {
			return v, true
		}
	}
	return nil, false
}

// TestCastsCannotLandAfterClosingByAnOldBlockTime: a ballot closed two
// hours ago by every clock (beyond msgDelay + precision, here an hour and
// 5 s, as the timeouts are an hour so that only the proposal moves a
// validator); a proposer stamps its block one millisecond
// before the closing time to slip in a cast that waits in the mempool.
// The block itself is valid (its time is after its parent's, and the cast
// is within the ballot's hours by that time), so what refuses it is
// timeliness: the other validators prevote nil. The same block taken at
// the closing time, as an honest proposer's would be, is prevoted.
func TestCastsCannotLandAfterClosingByAnOldBlockTime(t *testing.T) {
	g, keys := ballottest.Validators("closing-chain", 4, 3)
	g.Params.TimeoutProposeMs, g.Params.TimeoutVoteMs = 3_600_000, 3_600_000
	genesis := g.GenesisTime.UnixMilli()
	closes := genesis + 3_600_000
	e := ballottest.NewElection(ballottest.Options{Genesis: g, Opens: genesis, Closes: closes, Seed: 9})
	l, err := store.Open(t.TempDir(), g.Hash(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	appClock := g.GenesisTime.Add(time.Second)
	app, err := New(Config{Genesis: g, Ledger: l, MempoolTxs: 1000, MempoolBytes: 1 << 20, Metrics: NewMetrics(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: func() time.Time { mu.Lock(); defer mu.Unlock(); return appClock }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := app.Submit(ctx, e.DefinitionTx().Bytes); err != nil {
		t.Fatal(err)
	}
	b1, err := app.ProposeBlock(ctx, 1, 0, appClock)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.ApplyBlock(ctx, b1, ballottest.Commit(g.Chain(), keys, &b1.Header, 0)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	appClock = g.GenesisTime.Add(30 * time.Minute) // the ballot is open: the cast is admitted
	mu.Unlock()
	if _, err := app.Submit(ctx, (&ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, 0)}).Encode()); err != nil {
		t.Fatal(err)
	}
	proposer := g.ValidatorSet().Proposer(2, 0)
	late, err := app.ProposeBlock(ctx, 2, proposer, time.UnixMilli(closes-1))
	if err != nil {
		t.Fatal(err)
	}
	if len(late.Txs) != 1 || late.Header.Time != closes-1 {
		t.Fatalf("the proposer's block has %d txs at %d", len(late.Txs), late.Header.Time)
	}
	if err := app.ValidateBlock(ctx, late); err != nil {
		t.Fatalf("the block alone is valid, yet: %v", err)
	}
	prop := &consensus.Proposal{Height: 2, POLRound: -1, Block: *late, Validator: proposer}
	prop.Sign(g.Chain(), keys[proposer])
	me := (proposer + 1) % 4

	prevoteAt := func(clock time.Time) consensus.Hash {
		tr := &sentVotes{}
		d, err := driver.New(driver.Config{Genesis: g, Key: keys[me], StateDir: t.TempDir(), Height: 1,
			LastBlockTime: time.UnixMilli(b1.Header.Time), Clock: driver.ClockFunc(func() time.Time { return clock }),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, app, tr)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.Run(runCtx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("driver: %v", err)
			}
		}()
		if err := d.Deliver(&consensus.Message{Proposal: prop}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if v, ok := tr.prevote(0); ok {
				return v.BlockHash
			}
			if time.Now().After(deadline) {
				t.Fatal("no prevote")
			}
			time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
		}
	}
	if got := prevoteAt(time.UnixMilli(closes + 2*3_600_000)); !got.IsZero() {
		t.Fatalf("two hours after closing, a block stamped before it got a prevote for %s", got.Short())
	}
	if got := prevoteAt(time.UnixMilli(closes - 1)); got != late.Hash() {
		t.Fatalf("taken at its own time, the block got a prevote for %s", got.Short())
	}
}
