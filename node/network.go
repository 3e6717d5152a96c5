package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
	"github.com/cocorico/node/p2p"
)

// network is the node's side of the peer network: it judges gossip for
// p2p, feeds consensus messages to the driver, announces the blocks the
// node makes final, and follows the chain (final-block announcements,
// block sync) so that a volunteer, a restarted validator or a lagging one
// catches up.
type network struct {
	n    *Node
	host *p2p.Host
	// driver is nil on a volunteer, and on a validator until its
	// start-up recovery ends (the network then follows as a volunteer
	// does); applyMu orders its arrival after any block applied without it.
	driver  atomic.Pointer[driver.Driver]
	applyMu sync.Mutex

	wake    chan struct{}
	mu      sync.Mutex
	blocks  map[consensus.Hash]*consensus.Block // recent proposals' blocks, by hash
	order   []consensus.Hash
	pending map[uint64]decided // announced final blocks whose block we have

	outbox   *outbox // accepted transactions on their way to gossip
	progress progress
	diskFull atomic.Bool
	limiter  *rate.Limiter // sync bytes per second; nil: unlimited
}

type decided struct {
	b *consensus.Block
	c *consensus.Commit
}

const recentBlocks = 16

func newNetwork(n *Node) *network {
	nw := &network{n: n, wake: make(chan struct{}, 1), blocks: map[consensus.Hash]*consensus.Block{}, pending: map[uint64]decided{}}
	nw.outbox = newOutbox(outboxDelay, func(txs [][]byte) {
		if err := nw.host.PublishTxs(context.Background(), txs); err != nil {
			n.logger.Debug("tx publish failed", "txs", len(txs), "err", err)
		}
	})
	if bps := n.cfg.P2P.MaxSyncBytesPerSec; bps > 0 {
		nw.limiter = rate.NewLimiter(rate.Limit(bps), int(max(bps, maxSyncAnswer)))
	}
	return nw
}

// maxSyncAnswer is the largest sync answer (p2p's bound), the limiter's burst.
const maxSyncAnswer = 32 << 20

func (nw *network) poke() {
	select {
	case nw.wake <- struct{}{}:
	default:
	}
}

// HandleTxs implements p2p.Handler: each gossiped transaction goes
// through every check, as one sent over HTTP does (signatures on all
// cores). The batch is rejected, and costs its forwarder score, when one
// of them is what a forwarder could have known to be bad; the others are
// kept all the same. Duplicates, replays, timing (not open yet, closed)
// and overload are no one's fault.
func (nw *network) HandleTxs(txs [][]byte) p2p.Verdict {
	_, errs := nw.n.app.SubmitMany(context.Background(), txs)
	v := p2p.Ignore
	for _, err := range errs {
		switch {
		case err == nil:
			v = p2p.Accept
		case forwarderFault(err):
			return p2p.Reject
		}
	}
	return v
}

func forwarderFault(err error) bool {
	for _, e := range []error{ballot.ErrMalformed, ballot.ErrTooLarge, ballot.ErrCastInvalid, ballot.ErrTokenInvalid,
		ballot.ErrVoterSignature, ballot.ErrChoiceOutOfRange, ballot.ErrUnknownRegistrar, ballot.ErrDefinitionInvalid,
		ballot.ErrOrganizerSignature, ballot.ErrOrganizerNotAllowed, ballot.ErrWrongChain, ballot.ErrSealedInvalid,
		ballot.ErrKeykeeperInvalid, ballot.ErrKeykeeperSignature, ballot.ErrDealInvalid} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// HandleConsensus implements p2p.Handler.
func (nw *network) HandleConsensus(from peer.ID, m *consensus.Message) p2p.Verdict {
	if m.Proposal != nil {
		nw.rememberBlock(&m.Proposal.Block)
	}
	if h := m.Height(); h <= nw.n.ledger.Height() {
		return p2p.Ignore // an old height: no use to anyone
	}
	if d := nw.driver.Load(); d != nil {
		if err := d.Deliver(m); err != nil {
			return p2p.Ignore
		}
	}
	return p2p.Accept
}

func (nw *network) rememberBlock(b *consensus.Block) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	h := b.Hash()
	if _, ok := nw.blocks[h]; ok {
		return
	}
	nw.blocks[h] = b
	nw.order = append(nw.order, h)
	if len(nw.order) > recentBlocks {
		delete(nw.blocks, nw.order[0])
		nw.order = nw.order[1:]
	}
}

// HandleFinal implements p2p.Handler: a final block announced by a peer.
func (nw *network) HandleFinal(from peer.ID, h *consensus.Header, c *consensus.Commit) p2p.Verdict {
	if h.Height <= nw.n.ledger.Height() {
		return p2p.Ignore
	}
	nw.mu.Lock()
	if b, ok := nw.blocks[h.Hash()]; ok {
		nw.pending[h.Height] = decided{b, c}
	}
	nw.mu.Unlock()
	nw.poke()
	return p2p.Accept
}

// Height implements p2p.Handler.
func (nw *network) Height() uint64 { return nw.n.ledger.Height() }

// SyncBlocks implements p2p.Handler.
func (nw *network) SyncBlocks(from uint64, max, maxBytes int) ([]p2p.SyncBlock, error) {
	var out []p2p.SyncBlock
	size := 0
	for h := from; h <= nw.n.ledger.Height() && len(out) < max; h++ {
		b, err := nw.n.ledger.Block(h)
		if err != nil {
			return out, err
		}
		c, err := nw.n.ledger.CommitAt(h)
		if err != nil {
			return out, err
		}
		sb := p2p.SyncBlock{Block: b.Encode(), Commit: c.Encode()}
		if size += len(sb.Block) + len(sb.Commit); size > maxBytes && len(out) > 0 {
			break
		}
		out = append(out, sb)
	}
	return out, nil
}

// ConsensusMessages implements p2p.Handler.
func (nw *network) ConsensusMessages(height uint64) []*consensus.Message {
	d := nw.driver.Load()
	if d == nil {
		return nil
	}
	return d.Messages(height)
}

// Pull implements driver.Transport: ask every peer for the height's
// messages; what comes back goes through the driver's verification.
func (nw *network) Pull(height uint64) {
	if d := nw.driver.Load(); d != nil {
		nw.host.PullFromSyncPeers(height, d.Deliver)
	}
	nw.poke()
}

// Broadcast implements driver.Transport.
func (nw *network) Broadcast(m *consensus.Message) {
	if m.Proposal != nil {
		nw.rememberBlock(&m.Proposal.Block)
	}
	if err := nw.host.PublishConsensus(context.Background(), m); err != nil {
		nw.n.logger.Debug("consensus publish failed", "err", err)
	}
}

// run announces the node's final blocks and follows the chain.
func (nw *network) run(ctx context.Context) error {
	finals := make(chan uint64, 64)
	nw.n.app.SubscribeFinal(finals)
	go nw.follow(ctx)
	go nw.reportProgress(ctx, 5*time.Second)
	go nw.regossip(ctx, nw.n.cfg.P2P.RegossipAfter)
	if limit := nw.n.cfg.MaxDiskBytes; limit > 0 && nw.n.role == RoleVolunteer {
		go nw.watchDisk(ctx, limit, 30*time.Second)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case h := <-finals:
			nw.announce(ctx, h)
		}
	}
}

// regossip gossips again, every period, the transactions pending for
// longer than a period: one accepted while the node had no peer (a
// volunteer starting up, a validator cut off) or whose gossip was lost
// would otherwise wait for ever on a node that never proposes. Peers that
// have them drop them at the cost of a hash lookup.
func (nw *network) regossip(ctx context.Context, period time.Duration) {
	everyTick(ctx, period/3, func() {
		if nw.host.Peers() == 0 {
			return
		}
		if txs := nw.n.pool.Stale(time.Now().Add(-period), p2p.MaxTxsPerMessage); len(txs) > 0 {
			nw.n.logger.Debug("gossiping pending transactions again", "txs", len(txs))
			nw.outbox.add(txs...)
		}
	})
}

// everyTick calls f every period until ctx ends.
func everyTick(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// announce tells peers a block is final (header and commit; the
// transactions travelled in the proposal, or are fetched by sync).
func (nw *network) announce(ctx context.Context, h uint64) {
	hdr, err := nw.n.ledger.Header(h)
	if err != nil {
		return
	}
	c, err := nw.n.ledger.CommitAt(h)
	if err != nil {
		return
	}
	if err := nw.host.PublishFinal(ctx, hdr, c); err != nil {
		nw.n.logger.Debug("announce failed", "height", h, "err", err)
	}
	nw.mu.Lock()
	for k := range nw.pending {
		if k <= h {
			delete(nw.pending, k)
		}
	}
	nw.mu.Unlock()
}

// follow applies announced blocks in order and, when peers are ahead,
// fetches the missing blocks by sync, verifying every commit against the
// genesis validators before applying (the app re-verifies every cast).
func (nw *network) follow(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	nw.askHeights(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-nw.wake:
		case <-t.C:
			if p, _ := nw.host.PeerHeight(); p == 0 {
				nw.askHeights(ctx)
			}
		}
		nw.catchUp(ctx)
	}
}

func (nw *network) askHeights(ctx context.Context) {
	for _, p := range nw.host.SyncPeers() {
		nw.host.FetchBlocks(ctx, p, 0, 0)
	}
}

func (nw *network) catchUp(ctx context.Context) {
	vals := nw.n.cfg.Genesis.ValidatorSet()
	chain := nw.n.app.Rules().Chain
	for ctx.Err() == nil && !nw.diskFull.Load() {
		my := nw.n.ledger.Height()
		nw.mu.Lock()
		d, ok := nw.pending[my+1]
		nw.mu.Unlock()
		if ok {
			if err := nw.deliver(ctx, d.b, d.c); err != nil {
				nw.n.logger.Warn("announced block not applied", "height", my+1, "err", err)
				nw.mu.Lock()
				delete(nw.pending, my+1)
				nw.mu.Unlock()
			}
			continue
		}
		target, p := nw.host.PeerHeight()
		nw.n.metrics.SyncBehind.Set(float64(max(target, my) - my))
		if target <= my {
			return
		}
		_, blocks, commits, err := nw.host.FetchBlocks(ctx, p, my+1, 64)
		if err != nil || len(blocks) == 0 {
			nw.n.logger.Debug("sync fetch failed", "peer", p, "from", my+1, "err", err)
			return
		}
		if nw.limiter != nil {
			size := 0
			for _, b := range blocks {
				for _, tx := range b.Txs {
					size += len(tx)
				}
			}
			if err := nw.limiter.WaitN(ctx, min(size, nw.limiter.Burst())); err != nil {
				return
			}
		}
		for i, b := range blocks {
			if err := commits[i].Verify(chain, vals, b.Header.Height, b.Hash()); err != nil {
				nw.n.logger.Warn("sync: peer sent a block without a valid commit", "peer", p, "height", b.Header.Height, "err", err)
				return
			}
			if err := nw.deliver(ctx, b, commits[i]); err != nil {
				nw.n.logger.Warn("sync: block not applied", "height", b.Header.Height, "err", err)
				return
			}
			nw.n.metrics.SyncedBlocks.Inc()
			nw.progress.applied(len(b.Txs))
		}
	}
}

// deliver makes a block with a verified commit final: through the driver
// on a validator (so that its consensus state moves on), directly on a
// volunteer. It returns once the block is in the ledger.
func (nw *network) deliver(ctx context.Context, b *consensus.Block, c *consensus.Commit) error {
	nw.applyMu.Lock()
	d := nw.driver.Load()
	if d == nil {
		defer nw.applyMu.Unlock()
		return nw.n.app.ApplyBlock(ctx, b, c)
	}
	nw.applyMu.Unlock()
	if err := d.DeliverDecided(b, c); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := nw.n.app.WaitApplied(wctx, b.Header.Height); err != nil {
		return fmt.Errorf("the driver did not apply the delivered block %d: %w", b.Header.Height, err)
	}
	return nil
}
