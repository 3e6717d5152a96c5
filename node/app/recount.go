package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

// RecountReport is the outcome of a recount.
type RecountReport struct {
	Ballot   consensus.Hash
	Question string
	Choices  []string
	Height   uint64
	Blocks   uint64
	Txs      uint64
	Casts    uint64 // casts of this ballot, re-verified
	// Counts are the recounted counts; Stored the ledger's.
	Counts, Stored []uint64
	// AppHashes is how many header app hashes matched the recomputed results.
	AppHashes uint64
	Agree     bool
	Took      time.Duration
}

// Recount replays a ledger from block 1 as a stranger would: every commit
// against the genesis validators, every parent hash and Merkle root, every
// signature of every transaction (on all cores), the tally in memory, and
// every header's app hash against the recomputed results. It then compares
// the ballot's counts with the ones the ledger stores. progress, if set,
// is called after each block with (height, last height).
func Recount(ctx context.Context, l *store.Ledger, g *consensus.Genesis, id consensus.Hash, progress func(uint64, uint64)) (*RecountReport, error) {
	start := time.Now()
	vals := g.ValidatorSet()
	rules := ballot.NewRules(g)
	top := l.Height()
	st := ballot.NewMemState()
	rep := &RecountReport{Ballot: id, Height: top}
	prev := g.Hash()
	for h := uint64(1); h <= top; h++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := l.Block(h)
		if err != nil {
			return nil, err
		}
		c, err := l.CommitAt(h)
		if err != nil {
			return nil, err
		}
		hdr := &b.Header
		if hdr.PrevHash != prev {
			return nil, fmt.Errorf("block %d: parent %s, block %d is %s", h, hdr.PrevHash.Short(), h-1, prev.Short())
		}
		if hdr.AppHash != st.AppHash() {
			return nil, fmt.Errorf("block %d: header app hash %s, the recount's results after block %d hash to %s",
				h, hdr.AppHash.Short(), h-1, st.AppHash().Short())
		}
		rep.AppHashes++
		if err := b.CheckStructure(g.ChainID, g.Params); err != nil {
			return nil, fmt.Errorf("block %d: %w", h, err)
		}
		prev = b.Hash()
		if err := c.Verify(rules.Chain, vals, h, prev); err != nil {
			return nil, fmt.Errorf("block %d: %w", h, err)
		}
		checked, err := verifyTxs(ctx, rules, g.Params.MaxTxBytes, b.Txs, st, nil)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", h, err)
		}
		batch := ballot.NewBatch(st, rules, h, hdr.Time)
		batch.SetParallel(parallel)
		for i, tx := range checked {
			if err := batch.Add(tx); err != nil {
				return nil, fmt.Errorf("block %d tx %d: %w", h, i, err)
			}
			if tx.Cast != nil && tx.Cast.BallotID == id {
				rep.Casts++
			}
		}
		u, err := batch.Finish()
		if err != nil {
			return nil, err
		}
		st.Apply(u)
		rep.Blocks++
		rep.Txs += uint64(len(b.Txs))
		if progress != nil {
			progress(h, top)
		}
	}
	b, found, _ := st.Ballot(id)
	if !found {
		return nil, fmt.Errorf("ballot %s is not in this ledger (height %d)", id, top)
	}
	rep.Question, rep.Choices = b.Def.Question, b.Def.Choices
	res, _, _ := st.Results(id)
	rep.Counts = res.Counts
	kv, err := ballot.NewKVState(rules, l, l.Height())
	if err != nil {
		return nil, fmt.Errorf("stored state: %w", err)
	}
	stored, found, err := kv.Results(id)
	if err != nil || !found {
		return nil, fmt.Errorf("stored results of %s: found %v, %v", id, found, err)
	}
	rep.Stored = stored.Counts
	rep.Agree = slices.Equal(rep.Counts, rep.Stored) && res.Casts == stored.Casts
	rep.Took = time.Since(start)
	return rep, nil
}
