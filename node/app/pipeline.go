package app

import (
	"context"
	"fmt"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

// The replay of final blocks is a pipeline of three stages, each on its
// own goroutine so that no core waits for another stage: fetch (read the
// ledger, or a peer), verify (every transaction's signatures on all cores,
// across block boundaries), apply (in order, the state's rules and the
// app hash chain). Recount runs it over the ledger; a syncing node runs it
// over the blocks it fetches (node/follow.go), with VerifyFetched as its
// verify stage and ApplyBlock as its apply stage.

// FinalBlock is a block with its commit, as fetched (read from the
// ledger or received by block sync), the commit checked.
type FinalBlock struct {
	Block  *consensus.Block
	Commit *consensus.Commit
}

// verifiedBlock is a fetched block whose transactions passed the
// stateless rules, in order.
type verifiedBlock struct {
	FinalBlock
	checked []*ballot.Checked
}

// runTxs is how many transactions the verify stage takes at once, when
// that many are fetched: enough to keep every core busy to the end.
const runTxs = 4096

// readLedger is the fetch stage of a recount: blocks from..to of l with
// their commits, each checked on its own (its structure and Merkle root,
// its commit against vals): what needs no other block.
func readLedger(ctx context.Context, l *store.Ledger, g *consensus.Genesis, chain consensus.Chain, from, to uint64, out chan<- FinalBlock) error {
	vals := g.ValidatorSet()
	for h := from; h <= to; h++ {
		b, err := l.Block(h)
		if err != nil {
			return err
		}
		c, err := l.CommitAt(h)
		if err != nil {
			return err
		}
		if err := b.CheckStructure(g.ChainID, g.Params); err != nil {
			return fmt.Errorf("block %d: %w", h, err)
		}
		if err := c.Verify(chain, vals, h, b.Hash()); err != nil {
			return fmt.Errorf("block %d: %w", h, err)
		}
		select {
		case out <- FinalBlock{b, c}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// verifyStream is the verify stage: it takes the blocks in as they come,
// as many as are there up to runTxs transactions, verifies them as one
// run (verifyRun) and sends them on in order. defs holds the ballots
// known before the first block and is the stage's own.
func verifyStream(ctx context.Context, r ballot.Rules, max int, defs *lookupWith, in <-chan FinalBlock, out chan<- verifiedBlock) error {
	for {
		run, err := nextRun(ctx, in)
		if run == nil {
			return err
		}
		checked, err := verifyRun(ctx, r, max, run[0].Block.Header.Height, txsOf(run), defs, nil)
		if err != nil {
			return err
		}
		for k, fb := range run {
			select {
			case out <- verifiedBlock{fb, checked[k]}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// nextRun waits for a block on in, then takes the blocks already there,
// up to runTxs transactions in all. It returns nil once in is closed
// (error nil) or ctx ends.
func nextRun(ctx context.Context, in <-chan FinalBlock) ([]FinalBlock, error) {
	var run []FinalBlock
	select {
	case fb, ok := <-in:
		if !ok {
			return nil, nil
		}
		run = append(run, fb)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	n := len(run[0].Block.Txs)
	for n < runTxs {
		select {
		case fb, ok := <-in:
			if !ok {
				return run, nil
			}
			run = append(run, fb)
			n += len(fb.Block.Txs)
		default:
			return run, nil
		}
	}
	return run, nil
}

// txsOf returns the transactions of a run's blocks, block by block.
func txsOf(run []FinalBlock) [][][]byte {
	txs := make([][][]byte, len(run))
	for k, fb := range run {
		txs[k] = fb.Block.Txs
	}
	return txs
}

// VerifyFetched is the verify stage of a syncing node: blocks come in as
// fetched (their commits checked) and go out in the same order once their
// transactions passed the stateless rules, verified in runs across block
// boundaries on all cores (as Recount does). What passed is kept until
// ApplyBlock applies the block, so that applying verifies none of it
// again; ForgetVerified drops what was kept for blocks never applied.
// When a run fails, its blocks go out unverified (applying them verifies
// them again and names the bad transaction) and VerifyFetched returns the
// error. It returns nil when in is closed.
func (a *App) VerifyFetched(ctx context.Context, in <-chan FinalBlock, out chan<- FinalBlock) error {
	defs := newLookup(a.state)
	for {
		run, err := nextRun(ctx, in)
		if run == nil {
			return err
		}
		checked, verr := verifyRun(ctx, a.rules, a.genesis.Params.MaxTxBytes, run[0].Block.Header.Height, txsOf(run), defs, a.pool.Get)
		if verr == nil {
			a.mu.Lock()
			for _, block := range checked {
				for _, c := range block {
					a.preverified[c.ID] = c
				}
			}
			a.mu.Unlock()
		}
		for _, fb := range run {
			select {
			case out <- fb:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if verr != nil {
			return verr
		}
	}
}

// ForgetVerified drops the transactions VerifyFetched kept for blocks
// that were not applied (a sync that stopped half-way).
func (a *App) ForgetVerified() {
	a.mu.Lock()
	clear(a.preverified)
	a.mu.Unlock()
}
