package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/p2p"
)

// liar is the network side of a peer that tells a height of 2^62 in its
// answers to block sync, which it has not reached: it has no block to
// give, or (forged) gives, for any height asked, a block whose commit is
// signed by keys that are not the validators'.
type liar struct {
	g      *consensus.Genesis
	forged bool
	asked  atomic.Int64 // block-sync requests it answered
}

const liarHeight = 1 << 62

var _ p2p.Handler = (*liar)(nil)

func (l *liar) HandleTxs([][]byte) p2p.Verdict                          { return p2p.Ignore }
func (l *liar) HandleConsensus(peer.ID, *consensus.Message) p2p.Verdict { return p2p.Ignore }
func (l *liar) HandleFinal(peer.ID, *consensus.Header, *consensus.Commit) p2p.Verdict {
	return p2p.Ignore
}
func (l *liar) HandleWitness(peer.ID, *consensus.Witness) p2p.Verdict { return p2p.Ignore }
func (l *liar) ConsensusMessages(uint64) []*consensus.Message         { return nil }
func (l *liar) Height() uint64                                        { return liarHeight }

func (l *liar) SyncBlocks(from uint64, _, _ int, _ p2p.Room) ([]p2p.SyncBlock, error) {
	l.asked.Add(1)
	if !l.forged {
		return nil, nil
	}
	b := &consensus.Block{Header: consensus.Header{ChainID: l.g.ChainID, Height: from, Time: l.g.GenesisTime.UnixMilli() + int64(from)}}
	strangers := make([]ed25519.PrivateKey, len(l.g.Validators))
	for i := range strangers {
		_, strangers[i], _ = ed25519.GenerateKey(rand.Reader)
	}
	c := ballottest.Commit(l.g.Chain(), strangers, &b.Header, 0)
	return []p2p.SyncBlock{{Block: b.Encode(), Commit: c.Encode()}}, nil
}

// startLiar runs a liar's libp2p host on loopback and returns it with
// its address.
func startLiar(t *testing.T, l *liar) (*p2p.Host, string) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	h, err := p2p.New(p2p.Config{Key: key, Genesis: l.g, Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, h.Addrs()[0]
}

// Before: a node believed the height a peer told in its answers to block
// sync. One peer telling 2^62 showed "behind: 4611686018427387775" on the
// node's pages and metrics, and one serving forged blocks at that height
// stalled the node's catch-up for as long as it stayed connected (the
// fallback to other peers stopped at the first bad commit, and the peer
// was never struck); a validator fenced its signatures through that
// height (muted for good) or, at 2^64-1, through 0. Now a told height is
// proved by its block before the node aims at it or shows it: the peer
// without the block has its height dropped, the one with a forged commit
// is banned, and the volunteer catches up from the honest validator.
func TestAPeerTellingAHeightItHasNotReachedIsNotBelievedAndOneForgingItsBlockIsBanned(t *testing.T) {
	if testing.Short() {
		t.Skip("real libp2p hosts and a devnet")
	}
	ctx, info, g, vol := devnetWithVolunteer(t, P2PConfig{})
	validator := client.NewNode(info.Nodes[0].API)
	waitUntil(t, ctx, "the devnet at height 2", func() bool {
		st, err := validator.Status(ctx)
		return err == nil && st.Height >= 2
	})

	silent, forger := &liar{g: g}, &liar{g: g, forged: true}
	_, silentAddr := startLiar(t, silent)
	forgerHost, forgerAddr := startLiar(t, forger)
	host := vol.net.host
	for _, addr := range []string{silentAddr, forgerAddr} {
		if err := host.Connect(ctx, addr); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, ctx, "both liars asked their height", func() bool { return silent.asked.Load() > 0 && forger.asked.Load() > 0 })
	if err := host.Connect(ctx, info.Nodes[0].P2P); err != nil {
		t.Fatal(err)
	}
	st, err := validator.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, "the volunteer caught up with the validator", func() bool { return vol.ledger.Height() >= st.Height })

	if !host.Banned(forgerHost.ID()) {
		t.Error("the peer that served a block with a forged commit is not banned")
	}
	if h, _ := host.PeerHeight(); h >= liarHeight {
		t.Errorf("the network's height shown is %d, a height no block proved", h)
	}
	got, err := client.NewNode(vol.APIURL()).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Behind > 1000 {
		t.Errorf("the volunteer's status says it is %d blocks behind", got.Behind)
	}
	if behind := metricValue(t, vol, "cocorico_sync_behind_blocks"); behind > 1000 {
		t.Errorf("cocorico_sync_behind_blocks is %v", behind)
	}
}
