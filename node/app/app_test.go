package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

type appFixture struct {
	app    *App
	ledger *store.Ledger
	g      *consensus.Genesis
	keys   []ed25519.PrivateKey
	e      *ballottest.Election
	now    time.Time
}

func newAppFixture(t testing.TB, dir string) *appFixture {
	t.Helper()
	return newAppFixtureWith(t, dir, consensus.DefaultAppParams().RevoteIntervalMs)
}

// newAppFixtureWith is newAppFixture on a chain whose re-vote interval is
// interval ms.
func newAppFixtureWith(t testing.TB, dir string, interval int64) *appFixture {
	t.Helper()
	g, keys := ballottest.Validators("app-chain", 1, 1)
	g.App.RevoteIntervalMs = interval
	if interval == 0 {
		g.App.MaxCastsPerVoter = consensus.MaxCastsPerVoterCap // a load test's chain
	}
	if dir == "" {
		dir = t.TempDir()
	}
	l, err := store.Open(dir, g.Hash(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &appFixture{ledger: l, g: g, keys: keys, now: g.GenesisTime.Add(time.Minute)}
	app, err := New(Config{Genesis: g, Ledger: l, MempoolTxs: 1000, MempoolBytes: 1 << 20, Metrics: NewMetrics(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.app = app
	f.e = ballottest.NewElection(ballottest.Options{Genesis: g, Revote: true, Seed: 7})
	return f
}

// commitNext proposes the next block from the mempool and applies it with
// a real commit of the (single) validator.
func (f *appFixture) commitNext(t testing.TB) *consensus.Block {
	t.Helper()
	ctx := context.Background()
	h, _, _ := f.app.Tip()
	f.now = f.now.Add(3 * time.Second) // past the re-vote interval
	b, err := f.app.ProposeBlock(ctx, h+1, 0, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.app.ValidateBlock(ctx, b); err != nil {
		t.Fatal(err)
	}
	c := ballottest.Commit(f.g.Chain(), f.keys, &b.Header, 0)
	if err := f.app.ApplyBlock(ctx, b, c); err != nil {
		t.Fatal(err)
	}
	return b
}

// defineBallot makes the fixture's ballot definition final (block 1 on a
// fresh fixture).
func (f *appFixture) defineBallot(t testing.TB) {
	t.Helper()
	if err := f.submit(t, &ballot.Tx{Definition: f.e.Def}); err != nil {
		t.Fatal(err)
	}
	f.commitNext(t)
}

func (f *appFixture) submit(t testing.TB, tx *ballot.Tx) error {
	t.Helper()
	_, err := f.app.Submit(context.Background(), tx.Encode())
	return err
}

func TestAppCommitsCastsAndTheNextHeaderCarriesTheResultsHash(t *testing.T) {
	f := newAppFixture(t, "")
	f.defineBallot(t)
	v := f.e.NewVoter()
	if err := f.submit(t, &ballot.Tx{Cast: f.e.Cast(v, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	b2 := f.commitNext(t)
	if len(b2.Txs) != 1 {
		t.Fatalf("block 2 has %d txs", len(b2.Txs))
	}
	res, _, _ := f.app.State().Results(f.e.Ballot.ID)
	if res.Counts[1] != 1 {
		t.Fatalf("counts %v", res.Counts)
	}
	after2 := f.app.State().AppHash()
	if err := f.submit(t, &ballot.Tx{Cast: f.e.Cast(v, 2, 0)}); !errors.Is(err, ballot.ErrRevoteTooSoon) {
		t.Fatalf("a re-vote within the chain's interval: %v, want ErrRevoteTooSoon", err)
	}
	f.now = f.now.Add(time.Duration(f.g.App.RevoteIntervalMs) * time.Millisecond)
	if err := f.submit(t, &ballot.Tx{Cast: f.e.Cast(v, 2, 0)}); err != nil {
		t.Fatal(err)
	}
	b3 := f.commitNext(t)
	if b3.Header.AppHash != after2 {
		t.Fatal("header 3 does not commit to the results after block 2")
	}
	if b3.Header.PrevHash != b2.Hash() {
		t.Fatal("header 3 does not chain to block 2")
	}
}

func TestAppRefusesReplaysAndDuplicatesAtSubmit(t *testing.T) {
	f := newAppFixture(t, "")
	f.submit(t, &ballot.Tx{Definition: f.e.Def})
	f.commitNext(t)
	v := f.e.NewVoter()
	c := &ballot.Tx{Cast: f.e.Cast(v, 1, 0)}
	if err := f.submit(t, c); err != nil {
		t.Fatal(err)
	}
	if err := f.submit(t, c); !errors.Is(err, ballot.ErrDuplicate) {
		t.Fatalf("pending duplicate: %v", err)
	}
	if err := f.submit(t, &ballot.Tx{Cast: f.e.Cast(v, 1, 2)}); !errors.Is(err, ballot.ErrSeqReplay) {
		t.Fatalf("same seq pending: %v", err)
	}
	f.commitNext(t)
	// A replay of a final cast is refused by its seq (409 seq_replay).
	if err := f.submit(t, c); !errors.Is(err, ballot.ErrSeqReplay) {
		t.Fatalf("final duplicate: %v", err)
	}
	if err := f.submit(t, &ballot.Tx{Cast: f.e.Cast(v, 1, 2)}); !errors.Is(err, ballot.ErrSeqReplay) {
		t.Fatalf("seq replay of a final cast: %v", err)
	}
	if f.app.Pending() != 0 {
		t.Fatalf("%d pending after refusals", f.app.Pending())
	}
}

func TestAppRefusesBlocksThatBreakTheChainOrTheRules(t *testing.T) {
	f := newAppFixture(t, "")
	f.submit(t, &ballot.Tx{Definition: f.e.Def})
	f.commitNext(t)
	ctx := context.Background()
	v := f.e.NewVoter()
	good := (&ballot.Tx{Cast: f.e.Cast(v, 1, 0)}).Encode()
	forged := f.e.Cast(v, 2, 1)
	forged.Signature[0] ^= 1
	bad := (&ballot.Tx{Cast: forged}).Encode()
	_, tipHash, tipTime := f.app.Tip()
	mk := func(mut func(*consensus.Block)) *consensus.Block {
		b := &consensus.Block{Header: consensus.Header{ChainID: f.g.ChainID, Height: 2, Time: tipTime + 1000,
			PrevHash: tipHash, AppHash: f.app.State().AppHash()}, Txs: [][]byte{good}}
		mut(b)
		b.Header.TxRoot, b.Header.TxCount = consensus.MerkleRoot(b.Txs), uint32(len(b.Txs))
		return b
	}
	cases := map[string]*consensus.Block{
		"forged cast":      mk(func(b *consensus.Block) { b.Txs = append(b.Txs, bad) }),
		"same cast twice":  mk(func(b *consensus.Block) { b.Txs = append(b.Txs, good) }),
		"wrong parent":     mk(func(b *consensus.Block) { b.Header.PrevHash[0] ^= 1 }),
		"wrong app hash":   mk(func(b *consensus.Block) { b.Header.AppHash[0] ^= 1 }),
		"time not after":   mk(func(b *consensus.Block) { b.Header.Time = tipTime }),
		"skipped height":   mk(func(b *consensus.Block) { b.Header.Height = 3 }),
		"garbage tx":       mk(func(b *consensus.Block) { b.Txs = append(b.Txs, []byte{1, 2, 3}) }),
		"unknown proposer": mk(func(b *consensus.Block) { b.Header.Proposer = 5 }),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if err := f.app.ValidateBlock(ctx, b); !errors.Is(err, consensus.ErrBlockInvalid) {
				t.Fatalf("got %v, want ErrBlockInvalid", err)
			}
		})
	}
	if err := f.app.ValidateBlock(ctx, mk(func(*consensus.Block) {})); err != nil {
		t.Fatalf("the good block: %v", err)
	}
}

func TestAppResumesFromTheLedgerAfterReopen(t *testing.T) {
	dir := t.TempDir()
	f := newAppFixture(t, dir)
	f.submit(t, &ballot.Tx{Definition: f.e.Def})
	f.commitNext(t)
	f.submit(t, &ballot.Tx{Cast: f.e.Cast(f.e.NewVoter(), 1, 2)})
	b := f.commitNext(t)
	f.ledger.Close()

	l, err := store.Open(dir, f.g.Hash(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	app, err := New(Config{Genesis: f.g, Ledger: l, MempoolTxs: 10, MempoolBytes: 1 << 20, Metrics: NewMetrics(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	h, hash, _ := app.Tip()
	if h != 2 || hash != b.Hash() {
		t.Fatalf("tip %d %s after reopen", h, hash.Short())
	}
	res, _, _ := app.State().Results(f.e.Ballot.ID)
	if res.Counts[2] != 1 {
		t.Fatalf("counts %v after reopen", res.Counts)
	}
}

// On a chain without a re-vote interval (a load test's), a voter's casts
// may share a block: the proposer puts them in seq order.
func TestAppProposesAVotersReVoteAfterTheCastItReplacesWhenGossipSwappedThem(t *testing.T) {
	f := newAppFixtureWith(t, "", 0)
	f.submit(t, &ballot.Tx{Definition: f.e.Def})
	f.commitNext(t)
	v, other := f.e.NewVoter(), f.e.NewVoter()
	// The re-vote (seq 2) arrives first, another voter's cast between.
	for _, c := range []*ballot.Cast{f.e.Cast(v, 2, 0), f.e.Cast(other, 1, 2), f.e.Cast(v, 1, 1)} {
		if err := f.submit(t, &ballot.Tx{Cast: c}); err != nil {
			t.Fatalf("seq %d: %v", c.Seq, err)
		}
	}
	b := f.commitNext(t)
	if len(b.Txs) != 3 {
		t.Fatalf("block has %d txs, want all 3 (none dropped)", len(b.Txs))
	}
	var seqs []uint64
	for _, raw := range b.Txs {
		tx, err := ballot.DecodeTx(raw, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		if tx.Cast.Key() == f.e.Cast(v, 1, 0).Key() {
			seqs = append(seqs, tx.Cast.Seq)
		}
	}
	if len(seqs) != 2 || seqs[0] != 1 || seqs[1] != 2 {
		t.Fatalf("the voter's casts in the block in seq order %v, want [1 2]", seqs)
	}
	res, _, _ := f.app.State().Results(f.e.Ballot.ID)
	if res.Counts[0] != 1 || res.Counts[1] != 0 || res.Counts[2] != 1 {
		t.Fatalf("counts %v: the re-vote (choice 0) must count, not the cast it replaced", res.Counts)
	}
}
