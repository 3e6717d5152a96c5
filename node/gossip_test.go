package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/p2p"
)

// TxsWanted (p2p.TxFilter, what the gossip router's frame inspection
// asks) is false exactly for the batches HandleTxs ignores before checking
// any signature: every transaction pending, final or a replay of its
// key's seq. A new cast among them, or one the forwarder is at fault for,
// makes the batch wanted, and HandleTxs takes or rejects it. Asking
// changes nothing.
func TestTxsWantedIsFalseOnlyForBatchesTheNodeIgnoresUnchecked(t *testing.T) {
	g, keys := ballottest.Validators("screen-chain", 4, 17)
	genesis := g.GenesisTime.UnixMilli()
	e := ballottest.NewElection(ballottest.Options{Genesis: g, Opens: genesis, Closes: genesis + 3_600_000, Seed: 17})
	n, err := New(Config{Home: Home(t.TempDir()), Genesis: g, Key: keyN(100), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock: func() time.Time { return g.GenesisTime.Add(time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ledger.Close() })
	nw := &peerNetwork{n: n}
	ctx := context.Background()
	submit := func(tx []byte) {
		t.Helper()
		if _, err := n.app.Submit(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	commit := func() {
		t.Helper()
		h, _, _ := n.app.Tip()
		b, err := n.app.ProposeBlock(ctx, h+1, 0, g.GenesisTime.Add(time.Duration(h+1)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.app.ApplyBlock(ctx, b, ballottest.Commit(g.Chain(), keys, &b.Header, 0)); err != nil {
			t.Fatal(err)
		}
	}
	cast := func() []byte { return (&ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, 1)}).Encode() }
	submit(e.DefinitionTx().Bytes)
	commit()
	final := cast()
	submit(final)
	commit()
	pending, fresh := cast(), cast()
	submit(pending)
	forged := &ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, 0)}
	forged.Cast.Signature[0] ^= 1
	notACast := []byte("not a transaction")

	for _, c := range []struct {
		name   string
		txs    [][]byte
		wanted bool
		then   p2p.Verdict
	}{
		{"a final cast", [][]byte{final}, false, p2p.Ignore},
		{"a pending cast", [][]byte{pending}, false, p2p.Ignore},
		{"final and pending", [][]byte{final, pending, final}, false, p2p.Ignore},
		{"a forged cast after them", [][]byte{final, pending, forged.Encode()}, true, p2p.Reject},
		{"junk after them", [][]byte{final, pending, notACast}, true, p2p.Reject},
		{"a new cast after them", [][]byte{final, pending, fresh}, true, p2p.Accept},
	} {
		before := n.pool.Len()
		if got := nw.TxsWanted(c.txs); got != c.wanted {
			t.Fatalf("%s: wanted %v, want %v", c.name, got, c.wanted)
		}
		if n.pool.Len() != before {
			t.Fatalf("%s: asking changed the mempool", c.name)
		}
		if v := nw.HandleTxs(c.txs); v != c.then {
			t.Fatalf("%s: HandleTxs says %v, want %v", c.name, v, c.then)
		}
	}
}
