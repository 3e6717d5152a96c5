package node

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
	"github.com/cocorico/node/p2p"
)

// peerNetwork is the node's side of the peer network (p2p.Host is the
// libp2p side). Its parts, a file each:
//
//   - gossip.go, the gossip handler: judges what peers send (casts,
//     consensus messages, final-block announcements) and serves block
//     sync (p2p.Handler);
//   - transport.go, the consensus transport: carries the driver's
//     messages (driver.Transport);
//   - follow.go, the follower: applies announced final blocks in order and
//     fetches missing ones by block sync, each checked against its commit;
//   - regossip.go and outbox.go: accepted transactions gossiped in
//     batches, and again while they wait.
//
// Run owns every goroutine of these parts and returns when they have
// stopped.
type peerNetwork struct {
	n    *Node
	host *p2p.Host
	// driver is nil on a volunteer, and on a validator until its
	// start-up recovery ends (the network then follows as a volunteer
	// does); applyMu orders its arrival after any block applied without it.
	driver  atomic.Pointer[driver.Driver]
	applyMu sync.Mutex

	wake   chan struct{} // the follower has work: an announcement, a height
	joined chan struct{} // closed once the follower may apply blocks (after a state sync)
	recent *recentBlocks // blocks of recent proposals, by hash

	mu      sync.Mutex         // guards pending
	pending map[uint64]decided // announced final blocks whose block we have

	outbox   *outbox // accepted transactions on their way to gossip
	progress progress
	diskFull atomic.Bool
	limiter  *rate.Limiter // sync bytes per second; nil: unlimited
}

// decided is a block with a commit for it.
type decided struct {
	b *consensus.Block
	c *consensus.Commit
}

func newPeerNetwork(n *Node) *peerNetwork {
	nw := &peerNetwork{n: n, wake: make(chan struct{}, 1), joined: make(chan struct{}), recent: newRecentBlocks(maxRecentBlocks), pending: map[uint64]decided{}}
	nw.outbox = newOutbox(outboxDelay)
	if bps := n.cfg.P2P.MaxSyncBytesPerSec; bps > 0 {
		nw.limiter = rate.NewLimiter(rate.Limit(bps), int(max(bps, maxSyncAnswer)))
	}
	return nw
}

// maxSyncAnswer is the largest sync answer (p2p's bound), the limiter's burst.
const maxSyncAnswer = 32 << 20

func (nw *peerNetwork) poke() {
	select {
	case nw.wake <- struct{}{}:
	default:
	}
}

// run runs the host and every part of the node's side of the network
// until ctx ends, and waits for all of them.
func (nw *peerNetwork) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return nw.host.Run(ctx) })
	g.Go(func() error {
		nw.outbox.run(ctx, func(txs [][]byte) {
			if err := nw.host.PublishTxs(ctx, txs); err != nil {
				nw.n.logger.Debug("tx publish failed", "txs", len(txs), "err", err)
			}
		})
		return nil
	})
	g.Go(func() error { nw.follow(ctx); return nil })
	g.Go(func() error { nw.announceFinal(ctx); return nil })
	g.Go(func() error { nw.reportProgress(ctx, 5*time.Second); return nil })
	g.Go(func() error { nw.regossip(ctx, nw.n.cfg.P2P.RegossipAfter); return nil })
	if nw.n.role == RoleVolunteer {
		g.Go(func() error { nw.attestAgain(ctx, attestAgainEvery); return nil })
	}
	if limit := nw.n.cfg.MaxDiskBytes; limit > 0 && nw.n.role == RoleVolunteer {
		g.Go(func() error { nw.watchDisk(ctx, limit, 30*time.Second); return nil })
	}
	return g.Wait()
}

// recentBlocks keeps the blocks of the last few proposals: a final-block
// announcement carries only the header, and the follower applies the
// block it already has. A block of a height already final is of no more
// use and goes at the next add: at 5,000 casts a block (~4 MB decoded),
// the sixteen last proposals held up to 64 MB a node, after their heights
// were final.
type recentBlocks struct {
	mu     sync.Mutex
	max    int
	blocks map[consensus.Hash]*consensus.Block
	order  []consensus.Hash
}

// maxRecentBlocks bounds the blocks kept: a few rounds' proposals.
const maxRecentBlocks = 16

func newRecentBlocks(max int) *recentBlocks {
	return &recentBlocks{max: max, blocks: map[consensus.Hash]*consensus.Block{}}
}

// add keeps b, and drops the blocks of heights up to final (the ledger's
// height).
func (r *recentBlocks) add(b *consensus.Block, final uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = slices.DeleteFunc(r.order, func(h consensus.Hash) bool {
		if r.blocks[h].Header.Height <= final {
			delete(r.blocks, h)
			return true
		}
		return false
	})
	h := b.Hash()
	if _, ok := r.blocks[h]; ok || b.Header.Height <= final {
		return
	}
	r.blocks[h] = b
	r.order = append(r.order, h)
	if len(r.order) > r.max {
		delete(r.blocks, r.order[0])
		r.order = r.order[1:]
	}
}

func (r *recentBlocks) get(h consensus.Hash) (*consensus.Block, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.blocks[h]
	return b, ok
}
