package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node/app"
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
// transactions travelled in the proposal, or are fetched by sync). A
// block made more than staleAnnounce ago (by its own time, against this
// node's clock) is not announced: its peers have it, and a node replaying
// history would otherwise publish every block it applies.
func (nw *peerNetwork) announce(ctx context.Context, h uint64) {
	hdr, err := nw.n.ledger.Header(h)
	if err != nil {
		return
	}
	if stale(nw.n.cfg.Clock(), hdr.Time) {
		nw.forgetPending(h)
		return
	}
	c, err := nw.n.ledger.CommitAt(h)
	if err != nil {
		return
	}
	if err := nw.host.PublishFinal(ctx, hdr, c); err != nil {
		nw.n.logger.Debug("announce failed", "height", h, "err", err)
	}
	nw.forgetPending(h)
}

// staleAnnounce is the age beyond which a final block is not announced.
const staleAnnounce = time.Minute

// stale reports whether a block of that time (Unix ms) is older than
// staleAnnounce at now.
func stale(now time.Time, blockTime int64) bool {
	return now.UnixMilli()-blockTime > staleAnnounce.Milliseconds()
}

// forgetPending drops the announced blocks kept to apply up to height h.
func (nw *peerNetwork) forgetPending(h uint64) {
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
// genesis validators before applying (the app re-verifies every cast). It
// asks its peers' heights when it knows none: at start, as soon as a peer
// that speaks block sync is identified (poke), and every 2 s.
func (nw *peerNetwork) follow(ctx context.Context) {
	select {
	case <-nw.joined:
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if p, _ := nw.host.ToldHeight(); p == 0 {
			nw.askHeights(ctx)
		}
		nw.catchUp(ctx)
		select {
		case <-ctx.Done():
			return
		case <-nw.wake:
		case <-t.C:
		}
	}
}

// askHeights asks every sync peer its height at once, each within
// proofTimeout (a slow peer holds up none of the others).
func (nw *peerNetwork) askHeights(ctx context.Context) {
	nw.askHeightsOf(ctx, nw.host.SyncPeers())
}

// askHeightsOf asks peers their heights at once, each within
// proofTimeout, and returns those that answered (any height, 0 included).
func (nw *peerNetwork) askHeightsOf(ctx context.Context, peers []peer.ID) []peer.ID {
	var mu sync.Mutex
	var answered []peer.ID
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, proofTimeout)
			defer cancel()
			if _, _, _, err := nw.host.FetchBlocks(ctx, p, 0, 0); err == nil {
				mu.Lock()
				answered = append(answered, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return answered
}

// errBadPeer: a peer answered block sync with a block its commit does
// not make final.
var errBadPeer = errors.New("a block without a valid commit")

// catchUp applies announced blocks and, when the highest peer is ahead,
// replays the blocks up to its height (replay) until this node is at the
// height its peers announced. A height a peer only told (in an answer to
// block sync) is proved first, by its block (proveTold): a peer cannot
// make this node chase, or show, a height no block has reached.
func (nw *peerNetwork) catchUp(ctx context.Context) {
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
		nw.proveTold(ctx, my)
		target, p := nw.host.PeerHeight()
		nw.n.metrics.SyncBehind.Set(float64(max(target, my) - my))
		if target <= my || !nw.replay(ctx, p, my+1, target) {
			return
		}
	}
}

// Bounds of proving told heights: the peers asked at once, and how long
// each has to give its block (a block is at most a few MiB).
const (
	maxProofs    = 8
	proofTimeout = 10 * time.Second
)

// proveTold proves the heights peers told above this node's height my,
// the highest maxProofs at once (proveHeight), and returns when every one
// is proved or dropped: within proofTimeout, however slowly a liar
// answers, and a peer whose height is dropped is not heard for a minute
// (p2p.Host.Unproven).
func (nw *peerNetwork) proveTold(ctx context.Context, my uint64) {
	var wg sync.WaitGroup
	for p, h := range nw.host.Unproved(my, maxProofs) {
		wg.Go(func() { nw.proveHeight(ctx, p, h) })
	}
	wg.Wait()
}

// proveHeight asks peer p for the block at the height h it told and
// checks that block's commit: h is then p's proven height. A peer that
// does not give the block within proofTimeout has what it told dropped (a
// busy peer may answer with no block: no strike); one that gives a block
// without a valid commit is banned.
func (nw *peerNetwork) proveHeight(ctx context.Context, p peer.ID, h uint64) {
	ctx, cancel := context.WithTimeout(ctx, proofTimeout)
	defer cancel()
	_, blocks, commits, err := nw.host.FetchBlocks(ctx, p, h, 1)
	if err == nil && len(blocks) == 1 {
		if err := commits[0].Verify(nw.n.app.Rules().Chain, nw.n.cfg.Genesis.ValidatorSet(), h, blocks[0].Hash()); err != nil {
			nw.host.Ban(p, fmt.Sprintf("the block of the height it told, %d, has no valid commit: %v", h, err))
			return
		}
		nw.host.Proved(p, h)
		return
	}
	nw.n.logger.Debug("a peer's height not proved: its block was not given", "peer", p, "height", h, "err", err)
	nw.host.Unproven(p)
}

// syncRun bounds the blocks between the replay's stages: fetched and not
// verified, verified and not applied (a block is at most MaxBlockBytes).
const syncRun = 16

// replay is the replay pipeline of a syncing node (the one Recount runs,
// node/app/pipeline.go), each stage on its own goroutine: fetch blocks
// from..to from peer p, 64 at a time, each commit checked; verify every
// transaction on all cores, in runs across block boundaries
// (App.VerifyFetched); apply in order (deliver). It reports whether it
// applied at least one block and met no error.
func (nw *peerNetwork) replay(parent context.Context, p peer.ID, from, to uint64) bool {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	fetched := make(chan app.FinalBlock, syncRun)
	verified := make(chan app.FinalBlock, syncRun)
	var wg sync.WaitGroup
	var fetchErr, verifyErr error
	wg.Go(func() {
		defer close(fetched)
		fetchErr = nw.fetchBlocks(ctx, p, from, to, fetched)
	})
	wg.Go(func() {
		defer close(verified)
		verifyErr = nw.n.app.VerifyFetched(ctx, fetched, verified)
	})
	applied := 0
	var applyErr error
	for fb := range verified {
		if applyErr = nw.deliver(ctx, fb.Block, fb.Commit); applyErr != nil {
			nw.n.logger.Warn("sync: block not applied", "height", fb.Block.Header.Height, "err", applyErr)
			break
		}
		applied++
		nw.n.metrics.SyncedBlocks.Inc()
		nw.progress.applied(len(fb.Block.Txs))
		h := fb.Block.Header.Height
		target, _ := nw.host.PeerHeight()
		nw.n.metrics.SyncBehind.Set(float64(max(target, h) - h))
	}
	cancel()
	for range verified { // let the stages see the cancellation and end
	}
	wg.Wait()
	nw.n.app.ForgetVerified()
	switch {
	case errors.Is(fetchErr, errBadPeer):
		nw.n.logger.Warn("sync: peer sent a block without a valid commit", "peer", p, "err", fetchErr)
	case fetchErr != nil && !errors.Is(fetchErr, context.Canceled):
		nw.n.logger.Debug("sync fetch failed", "peer", p, "from", from, "err", fetchErr)
	case verifyErr != nil && applyErr == nil && parent.Err() == nil:
		nw.n.logger.Debug("sync: fetched blocks not all valid", "err", verifyErr)
	}
	return applied > 0 && applyErr == nil && (fetchErr == nil || errors.Is(fetchErr, context.Canceled))
}

// Blocks asked in one block-sync request by the replay's fetch stage:
// the first answer is small and each next one at most twice the last, up
// to answerBlocks. A peer reads, encodes and sends an answer whole (up to
// 32 MiB of blocks, most of a second) before its first byte arrives, and
// the replay's verify stage waited for the first answer with nothing to
// do; with a first answer of two blocks it starts on them at once.
const (
	firstAnswerBlocks = 2
	answerBlocks      = 64
)

// nextAnswerBlocks is how many blocks the replay asks after an answer to
// a request of count blocks whose transactions weighed total bytes (its
// last block's: last): twice as many blocks, up to answerBlocks,
// but no more than would weigh about twice the answer's bytes if each
// weighed as much as its last block. The count alone grew too fast where
// a chain's empty blocks end: after 16 empty or nearly empty blocks it
// asked 32, which came as 32 MiB of full ones (the answer's bound), read
// whole by the peer before its first byte, while the syncing node had
// nothing to verify (0.3-0.5 s at the start of every replay of a
// devnet's chain). Weighed by its last block, the answer after the first
// full blocks is a few of them, and answers double in bytes from there.
func nextAnswerBlocks(count, total, last int) int {
	n := min(2*count, answerBlocks)
	if last > 0 {
		n = min(n, max(1, 2*total/last))
	}
	return n
}

// txBytes is what a block's transactions weigh.
func txBytes(b *consensus.Block) int {
	n := 0
	for _, tx := range b.Txs {
		n += len(tx)
	}
	return n
}

// fetchBlocks is the fetch stage of the replay: blocks from..to, asked of
// p in answers growing as nextAnswerBlocks says (of another
// peer when p does not hold them: it joined by state sync and is
// back-filling), each commit checked against the genesis validators, sent
// on out in order. The next request goes once the last answer's blocks
// are all on out: out's capacity (syncRun blocks: seconds of verifying
// when blocks are full) hides the round trip. Asking one answer ahead was
// measured (stop 24): no faster, 80 MB more at 300,000 casts; the fetch
// waits on out most of the time.
func (nw *peerNetwork) fetchBlocks(ctx context.Context, p peer.ID, from, to uint64, out chan<- app.FinalBlock) error {
	vals := nw.n.cfg.Genesis.ValidatorSet()
	chain := nw.n.app.Rules().Chain
	// fetch asks q; a peer that sends a block without a valid commit is
	// banned (errBadPeer), and its blocks are left.
	fetch := func(q peer.ID, from uint64, count int) ([]*consensus.Block, []*consensus.Commit, error) {
		_, blocks, commits, err := nw.host.FetchBlocks(ctx, q, from, count)
		if err != nil {
			return nil, nil, err
		}
		for i, b := range blocks {
			if err := commits[i].Verify(chain, vals, b.Header.Height, b.Hash()); err != nil {
				err = fmt.Errorf("%w: block %d has no valid commit: %v", errBadPeer, b.Header.Height, err)
				nw.host.Ban(q, err.Error())
				return nil, nil, err
			}
		}
		if n := len(blocks); n > 0 {
			nw.host.Proved(q, blocks[n-1].Header.Height)
		}
		return blocks, commits, nil
	}
	count := firstAnswerBlocks
	for from <= to {
		blocks, commits, err := fetch(p, from, count)
		for _, q := range nw.host.SyncPeers() {
			if len(blocks) > 0 {
				break
			}
			if q != p && !nw.host.Banned(q) {
				if b, c, err2 := fetch(q, from, count); err2 == nil && len(b) > 0 {
					blocks, commits, err, p = b, c, nil, q
				}
			}
		}
		if err != nil {
			return err
		}
		if len(blocks) == 0 {
			return fmt.Errorf("no peer holds block %d", from)
		}
		size := 0
		for _, b := range blocks {
			size += txBytes(b)
		}
		count = nextAnswerBlocks(count, size, txBytes(blocks[len(blocks)-1]))
		if nw.limiter != nil {
			if err := nw.limiter.WaitN(ctx, min(size, nw.limiter.Burst())); err != nil {
				return err
			}
		}
		for i, b := range blocks {
			select {
			case out <- app.FinalBlock{Block: b, Commit: commits[i]}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		from += uint64(len(blocks))
	}
	return nil
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
