package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/consensus"
)

// The follower: final blocks made by others become final here, in order,
// each checked against its commit (the app re-verifies every cast).

// announceFinal tells peers of every block this node makes final.
func (nw *peerNetwork) announceFinal(ctx context.Context) {
	finals := make(chan uint64, 64)
	nw.n.app.SubscribeFinal(finals)
	for {
		select {
		case <-ctx.Done():
			return
		case h := <-finals:
			nw.announce(ctx, h)
			nw.n.settleWitnesses() // attestations that came before their block
		}
	}
}

// announce tells peers a block is final (header and commit; the
// transactions travelled in the proposal, or are fetched by sync).
func (nw *peerNetwork) announce(ctx context.Context, h uint64) {
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
func (nw *peerNetwork) follow(ctx context.Context) {
	select {
	case <-nw.joined:
	case <-ctx.Done():
		return
	}
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

func (nw *peerNetwork) askHeights(ctx context.Context) {
	for _, p := range nw.host.SyncPeers() {
		nw.host.FetchBlocks(ctx, p, 0, 0)
	}
}

// errBadPeer: a peer answered block sync with a block its commit does
// not make final.
var errBadPeer = errors.New("a block without a valid commit")

// fetched is one answer of block sync, its commits checked.
type fetched struct {
	from    uint64
	blocks  []*consensus.Block
	commits []*consensus.Commit
	err     error
}

// catchUp applies announced blocks and fetches the rest from the highest
// peer, 64 at a time. While one run of fetched blocks is verified and
// applied, the next is on its way: the fetch stage of the replay pipeline
// overlaps its verify and apply stages.
func (nw *peerNetwork) catchUp(ctx context.Context) {
	vals := nw.n.cfg.Genesis.ValidatorSet()
	chain := nw.n.app.Rules().Chain
	var ahead chan fetched // the fetch under way, if any; received before returning
	defer func() {
		if ahead != nil {
			<-ahead
		}
	}()
	// fetch gets the blocks from height from, checks their commits and
	// verifies their signatures (Preverify): everything that needs no
	// block before them applied.
	fetch := func(p peer.ID, from uint64) fetched {
		_, blocks, commits, err := nw.host.FetchBlocks(ctx, p, from, 64)
		if err != nil || len(blocks) == 0 {
			return fetched{from: from, err: err}
		}
		for i, b := range blocks {
			if err := commits[i].Verify(chain, vals, b.Header.Height, b.Hash()); err != nil {
				return fetched{from: from, err: fmt.Errorf("%w: block %d has no valid commit: %v", errBadPeer, b.Header.Height, err)}
			}
		}
		// A block refused here is refused, and named, when delivered.
		if err := nw.n.app.Preverify(ctx, blocks); err != nil {
			nw.n.logger.Debug("sync: fetched blocks not all valid", "peer", p, "from", from, "err", err)
		}
		return fetched{from, blocks, commits, nil}
	}
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
		var f fetched
		if ahead != nil {
			f = <-ahead
			ahead = nil
		}
		if f.from != my+1 || f.err != nil || len(f.blocks) == 0 {
			f = fetch(p, my+1)
		}
		// The highest peer may not hold old blocks (it joined by state
		// sync and is back-filling): any other peer may.
		for _, q := range nw.host.SyncPeers() {
			if len(f.blocks) > 0 || errors.Is(f.err, errBadPeer) {
				break
			}
			if q != p {
				if g := fetch(q, my+1); g.err == nil && len(g.blocks) > 0 {
					f, p = g, q
				}
			}
		}
		blocks, commits := f.blocks, f.commits
		if errors.Is(f.err, errBadPeer) {
			nw.n.logger.Warn("sync: peer sent a block without a valid commit", "peer", p, "err", f.err)
			return
		}
		if f.err != nil || len(blocks) == 0 {
			nw.n.logger.Debug("sync fetch failed", "peer", p, "from", my+1, "err", f.err)
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
		// The next range is fetched and verified while this one is applied.
		if next := my + 1 + uint64(len(blocks)); next <= target {
			ch := make(chan fetched, 1)
			ahead = ch
			go func() { ch <- fetch(p, next) }()
		}
		for i, b := range blocks {
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
func (nw *peerNetwork) deliver(ctx context.Context, b *consensus.Block, c *consensus.Commit) error {
	nw.applyMu.Lock()
	d := nw.driver.Load()
	if d == nil {
		defer nw.applyMu.Unlock()
		return nw.n.applyFollowed(ctx, b, c)
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
