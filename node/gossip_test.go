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

// screenNode is a volunteer's node at height 1, with the definition of
// e's open ballot final, and a way to make the mempool's casts final.
type screenNode struct {
	n      *Node
	nw     *peerNetwork
	e      *ballottest.Election
	commit func()
}

func newScreenNode(tb testing.TB) *screenNode {
	tb.Helper()
	g, keys := ballottest.Validators("screen-chain", 4, 17)
	genesis := g.GenesisTime.UnixMilli()
	e := ballottest.NewElection(ballottest.Options{Genesis: g, Opens: genesis, Closes: genesis + 3_600_000, Seed: 17})
	n, err := New(Config{Home: Home(tb.TempDir()), Genesis: g, Key: keyN(100), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock: func() time.Time { return g.GenesisTime.Add(time.Second) }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.ledger.Close() })
	ctx := context.Background()
	s := &screenNode{n: n, nw: &peerNetwork{n: n}, e: e}
	s.commit = func() {
		tb.Helper()
		h, _, _ := n.app.Tip()
		b, err := n.app.ProposeBlock(ctx, h+1, 0, g.GenesisTime.Add(time.Duration(h+1)*time.Second))
		if err != nil {
			tb.Fatal(err)
		}
		if err := n.app.ApplyBlock(ctx, b, ballottest.Commit(g.Chain(), keys, &b.Header, 0)); err != nil {
			tb.Fatal(err)
		}
	}
	s.submit(tb, e.DefinitionTx().Bytes)
	s.commit()
	return s
}

func (s *screenNode) submit(tb testing.TB, txs ...[]byte) {
	tb.Helper()
	_, errs := s.n.app.SubmitMany(context.Background(), txs)
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// cast is a new voter's first cast.
func (s *screenNode) cast() []byte {
	return (&ballot.Tx{Cast: s.e.Cast(s.e.NewVoter(), 1, 1)}).Encode()
}

// TxsWanted (p2p.TxFilter, what the gossip router's frame inspection
// asks) is false exactly for the batches HandleTxs ignores before checking
// any signature: every transaction pending, final or a replay of its
// key's seq. A new cast among them, or one the forwarder is at fault for,
// makes the batch wanted, and HandleTxs takes or rejects it. Asking
// changes nothing.
func TestTxsWantedIsFalseOnlyForBatchesTheNodeIgnoresUnchecked(t *testing.T) {
	s := newScreenNode(t)
	n, nw, e := s.n, s.nw, s.e
	final := s.cast()
	s.submit(t, final)
	s.commit()
	pending, fresh := s.cast(), s.cast()
	s.submit(t, pending)
	forged := &ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, 0)}
	forged.Cast.Signature[0] ^= 1
	notACast := []byte("not a transaction")

	for _, c := range []struct {
		name   string
		txs    [][]byte
		wanted bool
		costly int // read against the state: all but the pending ones, up to the first wanted
		then   p2p.Verdict
	}{
		{"a final cast", [][]byte{final}, false, 1, p2p.Ignore},
		{"a pending cast", [][]byte{pending}, false, 0, p2p.Ignore},
		{"final and pending", [][]byte{final, pending, final}, false, 2, p2p.Ignore},
		{"a forged cast after them", [][]byte{final, pending, forged.Encode(), final}, true, 2, p2p.Reject},
		{"junk after them", [][]byte{final, pending, notACast}, true, 2, p2p.Reject},
		{"a new cast after them", [][]byte{final, pending, fresh}, true, 2, p2p.Accept},
	} {
		before := n.pool.Len()
		if got, costly := nw.TxsWanted(c.txs); got != c.wanted || costly != c.costly {
			t.Fatalf("%s: wanted %v, %d costly; want %v, %d", c.name, got, costly, c.wanted, c.costly)
		}
		if n.pool.Len() != before {
			t.Fatalf("%s: asking changed the mempool", c.name)
		}
		if v := nw.HandleTxs(c.txs); v != c.then {
			t.Fatalf("%s: HandleTxs says %v, want %v", c.name, v, c.then)
		}
	}
}

// BenchmarkTxsWantedOfAFullCastsMessage reports the frame inspection's
// cost a transaction (ns/tx) on a message of 1,024 casts: "copy", each
// pending (a copy of a message the node took from another peer: every
// cast looked at, the message dropped); "final", each final (a flood of
// public casts sent again); "new", the first one new to the node
// (decided on it).
func BenchmarkTxsWantedOfAFullCastsMessage(b *testing.B) {
	s := newScreenNode(b)
	txs := make([][]byte, p2p.MaxTxsPerMessage)
	for i := range txs {
		txs[i] = s.cast()
	}
	final := make([][]byte, p2p.MaxTxsPerMessage)
	for i := range final {
		final[i] = s.cast()
	}
	s.submit(b, final...)
	s.commit()
	s.submit(b, txs...)
	fresh := append([][]byte{s.cast()}, txs[1:]...)
	for _, c := range []struct {
		name   string
		txs    [][]byte
		wanted bool
	}{{"copy", txs, false}, {"final", final, false}, {"new", fresh, true}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if wanted, _ := s.nw.TxsWanted(c.txs); wanted != c.wanted {
					b.Fatalf("wanted %v", !c.wanted)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(c.txs)), "ns/tx")
		})
	}
}
