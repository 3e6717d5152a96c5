package node

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// verifyTxs applies the stateless rules to a block's transactions on all
// cores. known, if set, returns transactions already verified (the
// mempool's), which are not verified again. A cast may name a ballot
// defined earlier in the same block.
func verifyTxs(ctx context.Context, chainID string, max int, txs [][]byte, st ballot.Ballots, known func(consensus.Hash) (*ballot.Checked, bool)) ([]*ballot.Checked, error) {
	out := make([]*ballot.Checked, len(txs))
	defs := &lookupWith{base: st, own: map[consensus.Hash]*ballot.Ballot{}}
	decoded := make([]*ballot.Tx, len(txs))
	var todo []int
	for i, raw := range txs {
		if known != nil {
			if c, ok := known(ballot.TxID(raw)); ok {
				out[i] = c
				if c.Ballot != nil {
					defs.own[c.Ballot.ID] = c.Ballot
				}
				continue
			}
		}
		tx, err := ballot.DecodeTx(raw, max)
		if err != nil {
			return nil, fmt.Errorf("%w: tx %d: %v", consensus.ErrBlockInvalid, i, err)
		}
		if tx.Definition != nil {
			c, err := ballot.Check(chainID, tx, raw, defs)
			if err != nil {
				return nil, fmt.Errorf("%w: tx %d: %v", consensus.ErrBlockInvalid, i, err)
			}
			out[i] = c
			defs.own[c.Ballot.ID] = c.Ballot
			continue
		}
		decoded[i] = tx
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return out, nil
	}
	workers := min(runtime.GOMAXPROCS(0), len(todo))
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < len(todo); k += workers {
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				i := todo[k]
				c, err := ballot.Check(chainID, decoded[i], txs[i], defs)
				if err != nil {
					errs[w] = fmt.Errorf("%w: tx %d: %v", consensus.ErrBlockInvalid, i, err)
					return
				}
				out[i] = c
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lookupWith finds ballots in base or among those of the block at hand.
type lookupWith struct {
	base ballot.Ballots
	own  map[consensus.Hash]*ballot.Ballot
}

func (l *lookupWith) Ballot(id consensus.Hash) (*ballot.Ballot, bool, error) {
	if b, ok := l.own[id]; ok {
		return b, true, nil
	}
	return l.base.Ballot(id)
}
