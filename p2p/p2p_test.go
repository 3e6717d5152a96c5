package p2p

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/consensus"
)

// recordingHandler is a stand-in for the node (these tests are about the
// network): it accepts transactions that start with "ok", rejects the
// others, and serves blocks from a slice.
type recordingHandler struct {
	mu      sync.Mutex
	garbage int // transactions not starting with "ok" that reached this node
	txs     [][]byte
	finals  []uint64
	blocks  []SyncBlock
}

func (r *recordingHandler) HandleTx(tx []byte) Verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !bytes.HasPrefix(tx, []byte("ok")) {
		r.garbage++
		return Reject
	}
	r.txs = append(r.txs, tx)
	return Accept
}

func (r *recordingHandler) HandleConsensus(peer.ID, *consensus.Message) Verdict { return Accept }

func (r *recordingHandler) HandleFinal(_ peer.ID, h *consensus.Header, _ *consensus.Commit) Verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finals = append(r.finals, h.Height)
	return Accept
}

func (r *recordingHandler) Height() uint64 { return uint64(len(r.blocks)) }

func (r *recordingHandler) ConsensusMessages(uint64) []*consensus.Message { return nil }

func (r *recordingHandler) SyncBlocks(from uint64, max, _ int) ([]SyncBlock, error) {
	var out []SyncBlock
	for h := from; h <= uint64(len(r.blocks)) && len(out) < max; h++ {
		out = append(out, r.blocks[h-1])
	}
	return out, nil
}

func (r *recordingHandler) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.txs)
}

type testNet struct {
	g     *consensus.Genesis
	keys  []ed25519.PrivateKey
	hosts []*Host
	hs    []*recordingHandler
}

func newTestNet(t *testing.T, n int) *testNet {
	t.Helper()
	tn := &testNet{}
	var vals []consensus.Validator
	for i := range n {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		k := ed25519.NewKeyFromSeed(seed)
		tn.keys = append(tn.keys, k)
		vals = append(vals, consensus.Validator{Name: fmt.Sprintf("v%d", i), PubKey: k.Public().(ed25519.PublicKey)})
	}
	tn.g = &consensus.Genesis{ChainID: "p2p-test", GenesisTime: time.UnixMilli(1_700_000_000_000).UTC(), Validators: vals, Params: consensus.DefaultParams()}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range n {
		h := &recordingHandler{}
		x, err := New(ctx, Config{Key: tn.keys[i], Genesis: tn.g, Listen: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}, Logger: logger}, h)
		if err != nil {
			t.Fatal(err)
		}
		go x.Run(ctx)
		tn.hosts = append(tn.hosts, x)
		tn.hs = append(tn.hs, h)
	}
	for i := 1; i < n; i++ {
		if err := tn.hosts[i].Connect(ctx, tn.hosts[0].Addrs()[0]); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publishUntil publishes until cond holds: gossipsub meshes form a moment
// after peers connect.
func publishUntil(t *testing.T, what string, publish func(), cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		publish()
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTransactionsGossipOverRealLoopbackHosts(t *testing.T) {
	tn := newTestNet(t, 3)
	ctx := context.Background()
	n := 0
	publishUntil(t, "a tx on every peer", func() {
		n++
		tn.hosts[1].PublishTx(ctx, []byte(fmt.Sprintf("ok tx %d", n)))
	}, func() bool { return tn.hs[0].received() > 0 && tn.hs[2].received() > 0 })
}

func TestInvalidGossipIsNotForwardedAndCostsTheSenderItsConnection(t *testing.T) {
	tn := newTestNet(t, 3) // a line: host 1 — host 0 — host 2
	ctx := context.Background()
	k := 0
	publishUntil(t, "a mesh", func() {
		k++
		tn.hosts[1].PublishTx(ctx, []byte(fmt.Sprintf("ok warmup %d", k)))
	}, func() bool { return tn.hs[2].received() > 0 })
	if tn.hosts[1].h.Network().Connectedness(tn.hosts[2].ID()) == network.Connected {
		t.Fatal("hosts 1 and 2 are connected directly: the test needs host 0 between them")
	}
	// Host 1 floods garbage. Host 0 rejects each message and forwards none
	// to host 2, and cuts host 1 off once its score is below the graylist.
	for i := range 50 {
		tn.hosts[1].PublishTx(ctx, []byte(fmt.Sprintf("garbage %d", i)))
	}
	bad := tn.hosts[1].ID()
	eventually(t, "the flooder banned by host 0", func() bool { return tn.hosts[0].Banned(bad) })
	eventually(t, "the flooder disconnected", func() bool {
		return tn.hosts[0].h.Network().Connectedness(bad) != network.Connected
	})
	tn.hs[0].mu.Lock()
	seen0 := tn.hs[0].garbage
	tn.hs[0].mu.Unlock()
	tn.hs[2].mu.Lock()
	seen2 := tn.hs[2].garbage
	tn.hs[2].mu.Unlock()
	if seen0 == 0 {
		t.Fatal("host 0 never saw the garbage: the test proves nothing")
	}
	if seen2 != 0 {
		t.Fatalf("host 0 forwarded %d invalid messages to host 2", seen2)
	}
	// Honest traffic from host 2 still reaches host 0.
	before := tn.hs[0].received()
	publishUntil(t, "honest tx after the ban", func() {
		k++
		tn.hosts[2].PublishTx(ctx, []byte(fmt.Sprintf("ok after %d", k)))
	}, func() bool { return tn.hs[0].received() > before })
}

func TestBlockSyncServesRangesAndTheHeight(t *testing.T) {
	tn := newTestNet(t, 2)
	for h := uint64(1); h <= 100; h++ {
		b := consensus.Block{Header: consensus.Header{ChainID: tn.g.ChainID, Height: h, TxRoot: consensus.MerkleRoot(nil)}}
		c := consensus.Commit{Height: h, BlockHash: b.Hash()}
		tn.hs[0].blocks = append(tn.hs[0].blocks, SyncBlock{Block: b.Encode(), Commit: c.Encode()})
	}
	ctx := context.Background()
	height, blocks, commits, err := tn.hosts[1].FetchBlocks(ctx, tn.hosts[0].ID(), 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if height != 100 || len(blocks) != 64 || blocks[0].Header.Height != 10 || commits[63].Height != 73 {
		t.Fatalf("height %d, %d blocks from %d", height, len(blocks), blocks[0].Header.Height)
	}
	if h, p := tn.hosts[1].PeerHeight(); h != 100 || p != tn.hosts[0].ID() {
		t.Fatalf("peer height %d from %s", h, p)
	}
}
