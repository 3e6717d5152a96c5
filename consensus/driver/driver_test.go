package driver

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cocorico/node/consensus"
)

// recordApp is a minimal application: it accepts every well-formed block,
// proposes empty ones, and records what it applies.
type recordApp struct {
	mu      sync.Mutex
	applied []*consensus.Block
	avail   chan struct{}
	chainID string
	pending int // what Pending reports; 0 means 1
}

var (
	_ Application = (*recordApp)(nil)
	_ Transport   = (*recordTransport)(nil)
)

func (a *recordApp) ProposeBlock(_ context.Context, h uint64, p uint16, t time.Time) (*consensus.Block, error) {
	return &consensus.Block{Header: consensus.Header{ChainID: a.chainID, Height: h, Time: t.UnixMilli(), TxRoot: consensus.MerkleRoot(nil), Proposer: p}}, nil
}
func (a *recordApp) ValidateBlock(context.Context, *consensus.Block) error { return nil }
func (a *recordApp) ApplyBlock(_ context.Context, b *consensus.Block, _ *consensus.Commit) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applied = append(a.applied, b)
	return nil
}
func (a *recordApp) appliedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.applied)
}

func (a *recordApp) Pending() int                  { return max(a.pending, 1) }
func (a *recordApp) TxsAvailable() <-chan struct{} { return a.avail }

// recordTransport records what the driver broadcasts; with crashOnVote it
// plays a process that dies after the vote was signed and persisted but
// before it was sent: it cancels the driver and drops the message.
type recordTransport struct {
	mu          sync.Mutex
	sent        []*consensus.Message
	crashOnVote context.CancelFunc
}

func (r *recordTransport) Broadcast(m *consensus.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.crashOnVote != nil && m.Vote != nil {
		r.crashOnVote()
		r.crashOnVote = nil
		return
	}
	r.sent = append(r.sent, m)
}
func (r *recordTransport) Pull(uint64) {}

func (r *recordTransport) votes() []*consensus.Vote {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*consensus.Vote
	for _, m := range r.sent {
		if m.Vote != nil {
			out = append(out, m.Vote)
		}
	}
	return out
}

func testGenesis(n int) (*consensus.Genesis, []ed25519.PrivateKey) {
	var keys []ed25519.PrivateKey
	var vals []consensus.Validator
	for i := range n {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		k := ed25519.NewKeyFromSeed(seed)
		keys = append(keys, k)
		vals = append(vals, consensus.Validator{Name: fmt.Sprintf("v%d", i), PubKey: k.Public().(ed25519.PublicKey)})
	}
	p := consensus.DefaultParams()
	p.TimeoutProposeMs, p.TimeoutProposeDeltaMs, p.TimeoutVoteMs, p.TimeoutVoteDeltaMs = 100, 50, 100, 50
	p.BlockIntervalMs, p.HeartbeatMs = 0, 1000
	return &consensus.Genesis{ChainID: "driver-test", GenesisTime: time.UnixMilli(1_700_000_000_000).UTC(), Validators: vals, Params: p}, keys
}

// runDriver runs d until the test ends, and waits for it to stop.
func runDriver(t *testing.T, d *Driver) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("driver: %v", err)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The driver is killed between signing its prevote and sending it. On
// restart it sends that very prevote, and never a different one for the
// same height, round and step, though its propose timeout fires again.
// The test runs in a synctest bubble: its waits take no real time.
func TestDriverKilledBetweenSigningAndSendingNeverSignsAConflictingVote(t *testing.T) {
	synctest.Test(t, driverKilledBetweenSigningAndSending)
}

func driverKilledBetweenSigningAndSending(t *testing.T) {
	g, keys := testGenesis(4)
	dir := t.TempDir()
	me := 2
	proposer := g.ValidatorSet().Proposer(1, 0)
	block := &consensus.Block{Header: consensus.Header{ChainID: g.ChainID, Height: 1, Time: time.Now().UnixMilli(), // timely
		TxRoot: consensus.MerkleRoot(nil), Proposer: proposer}}
	prop := &consensus.Proposal{Height: 1, POLRound: -1, Block: *block, Validator: proposer}
	prop.Sign(g.Chain(), keys[proposer])

	app := &recordApp{avail: make(chan struct{}), chainID: g.ChainID}
	ctx, cancel := context.WithCancel(context.Background())
	crash := &recordTransport{crashOnVote: cancel}
	d, err := New(Config{Genesis: g, Key: keys[me], StateDir: dir}, app, crash)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	if err := d.Deliver(&consensus.Message{Proposal: prop}); err != nil {
		t.Fatal(err)
	}
	<-done // the "crash"
	if len(crash.votes()) != 0 {
		t.Fatal("the vote left before the crash")
	}

	// Restart from the same state folder.
	tr := &recordTransport{}
	d, err = New(Config{Genesis: g, Key: keys[me], StateDir: dir}, app, tr)
	if err != nil {
		t.Fatal(err)
	}
	runDriver(t, d)
	waitFor(t, "the prevote sent after restart", func() bool { return len(tr.votes()) > 0 })
	// Let the propose timeout of round 0 fire (100 ms) and more: a fresh
	// validator would now prevote nil.
	time.Sleep(400 * time.Millisecond)
	synctest.Wait()
	for _, v := range tr.votes() {
		if v.Type == consensus.Prevote && v.Round == 0 && v.BlockHash != block.Hash() {
			t.Fatalf("after restart the validator signed a conflicting prevote for %s", v.BlockHash.Short())
		}
	}
	if v := tr.votes()[0]; v.Type != consensus.Prevote || v.BlockHash != block.Hash() {
		t.Fatalf("first vote after restart: %+v", v)
	}
}

func TestCorruptStateFileRefusesToStart(t *testing.T) {
	g, keys := testGenesis(4)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"height": 3, "round"`), 0o600)
	_, err := New(Config{Genesis: g, Key: keys[0], StateDir: dir}, &recordApp{chainID: g.ChainID}, &recordTransport{})
	if err == nil {
		t.Fatal("a truncated state file was accepted")
	}
}

// A lone validator (one-validator genesis) makes blocks through the very
// same path: propose, prevote, precommit, decide, apply.
func TestLoneValidatorDecidesHeightsAlone(t *testing.T) {
	g, keys := testGenesis(1)
	app := &recordApp{avail: make(chan struct{}), chainID: g.ChainID}
	d, err := New(Config{Genesis: g, Key: keys[0], StateDir: t.TempDir()}, app, &recordTransport{})
	if err != nil {
		t.Fatal(err)
	}
	runDriver(t, d)
	waitFor(t, "three heights", func() bool { return app.appliedCount() >= 3 })
}

// A full block's worth of pending transactions starts the next height at
// once; fewer wait for block_interval_ms (here an hour: the test with
// fewer runs in a synctest bubble and waits 59 minutes of its fake clock,
// no real time; the one with a full mempool never idles, so it runs on
// real time).
func TestAFullMempoolStartsTheNextHeightWithoutWaitingTheInterval(t *testing.T) {
	start := func(t *testing.T, pending int) *recordApp {
		g, keys := testGenesis(1)
		g.Params.BlockIntervalMs, g.Params.HeartbeatMs, g.Params.MaxBlockTxs = 3_600_000, 3_600_000, 10
		app := &recordApp{avail: make(chan struct{}), chainID: g.ChainID, pending: pending}
		d, err := New(Config{Genesis: g, Key: keys[0], StateDir: t.TempDir()}, app, &recordTransport{})
		if err != nil {
			t.Fatal(err)
		}
		runDriver(t, d)
		return app
	}
	t.Run("full=true", func(t *testing.T) {
		app := start(t, 10)
		waitFor(t, "three heights back to back", func() bool { return app.appliedCount() >= 3 })
	})
	t.Run("full=false", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			app := start(t, 9)
			time.Sleep(59 * time.Minute)
			synctest.Wait()
			if n := app.appliedCount(); n != 0 {
				t.Fatalf("%d heights decided within the hour-long interval, want none", n)
			}
		})
	})
}
