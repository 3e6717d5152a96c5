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
// app hash chain). Recount runs it over the ledger; a syncing node's
// Preverify is its verify stage over the blocks it fetched.

// finalBlock is a block with its commit, as fetched.
type finalBlock struct {
	b *consensus.Block
	c *consensus.Commit
}

// verifiedBlock is a fetched block whose transactions passed the
// stateless rules, in order.
type verifiedBlock struct {
	finalBlock
	checked []*ballot.Checked
}

// runTxs is how many transactions the verify stage takes at once, when
// that many are fetched: enough to keep every core busy to the end.
const runTxs = 4096

// readLedger is the fetch stage of a recount: blocks from..to of l with
// their commits, each checked on its own (its structure and Merkle root,
// its commit against vals): what needs no other block.
func readLedger(ctx context.Context, l *store.Ledger, g *consensus.Genesis, chain consensus.Chain, from, to uint64, out chan<- finalBlock) error {
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
		case out <- finalBlock{b, c}:
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
func verifyStream(ctx context.Context, r ballot.Rules, max int, defs *lookupWith, in <-chan finalBlock, out chan<- verifiedBlock) error {
	for {
		var run []finalBlock
		select {
		case fb, ok := <-in:
			if !ok {
				return nil
			}
			run = append(run, fb)
		case <-ctx.Done():
			return ctx.Err()
		}
		n := len(run[0].b.Txs)
	more:
		for n < runTxs {
			select {
			case fb, ok := <-in:
				if !ok {
					break more
				}
				run = append(run, fb)
				n += len(fb.b.Txs)
			default:
				break more
			}
		}
		txs := make([][][]byte, len(run))
		for k, fb := range run {
			txs[k] = fb.b.Txs
		}
		checked, err := verifyRun(ctx, r, max, run[0].b.Header.Height, txs, defs, nil)
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
