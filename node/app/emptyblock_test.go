package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/store"
)

// A block proposed from an empty mempool writes its transactions as an
// empty array (0x80), not CBOR null (0xf6): null is no value of the
// protocol (§2), and a decoder written from the docs refuses it. Every
// heartbeat block of an idle chain is such a block.
func TestAnEmptyProposedBlockWritesAnEmptyArrayNotNull(t *testing.T) {
	g, _ := ballottest.Validators("empty-block-chain", 4, 3)
	l, err := store.Open(t.TempDir(), g.Hash(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := g.GenesisTime.Add(time.Second)
	a, err := New(Config{Genesis: g, Ledger: l, MempoolTxs: 10, MempoolBytes: 1 << 20, Metrics: NewMetrics(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.ProposeBlock(context.Background(), 1, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	enc := b.Encode()
	if last := enc[len(enc)-1]; last != 0x80 {
		t.Fatalf("an empty block ends in %#x, want 0x80 (an empty array for key 2)", last)
	}
}
