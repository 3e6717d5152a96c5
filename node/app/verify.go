package app

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// verifyTxs applies the stateless rules to a block's transactions on all
// cores. known, if set, returns transactions already verified (the
// mempool's), which are not verified again. A cast may name a ballot
// defined earlier in the same block.
func verifyTxs(ctx context.Context, r ballot.Rules, max int, txs [][]byte, st ballot.Ballots, known func(consensus.Hash) (*ballot.Checked, bool)) ([]*ballot.Checked, error) {
	out, err := verifyRun(ctx, r, max, 0, [][][]byte{txs}, newLookup(st), known)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// verifyRun is verifyTxs for the transactions of consecutive blocks
// (run[k] is block first+k's), verified as one set on all cores, so that
// no core waits at a block's end for the others. defs holds the ballots
// known before the run; the run's definitions are added to it in order.
// An error names the block by its height, unless first is 0 (one block
// whose height the caller names).
func verifyRun(ctx context.Context, r ballot.Rules, max int, first uint64, run [][][]byte, defs *lookupWith, known func(consensus.Hash) (*ballot.Checked, bool)) ([][]*ballot.Checked, error) {
	var txs [][]byte
	starts := make([]int, len(run)+1)
	for k, b := range run {
		starts[k] = len(txs)
		txs = append(txs, b...)
	}
	starts[len(run)] = len(txs)
	refuse := func(i int, err error) error {
		k := 0
		for starts[k+1] <= i {
			k++
		}
		if first == 0 {
			return fmt.Errorf("%w: tx %d: %v", consensus.ErrBlockInvalid, i, err)
		}
		return fmt.Errorf("%w: block %d tx %d: %w", consensus.ErrBlockInvalid, first+uint64(k), i-starts[k], err)
	}
	out := make([]*ballot.Checked, len(txs))
	decoded := make([]*ballot.Tx, len(txs))
	// What needs no other transaction, on all cores: whether it is known
	// (its id hashed), else its decoding. Then, in order, what does: the
	// definitions, which the casts after them may name, and the first
	// failure.
	decodeErrs := make([]error, len(txs))
	parallel(len(txs), func(i int) {
		if known != nil {
			if c, ok := known(ballot.TxID(txs[i])); ok {
				out[i] = c
				return
			}
		}
		decoded[i], decodeErrs[i] = ballot.DecodeTx(txs[i], max)
	})
	var todo []int
	for i := range txs {
		if c := out[i]; c != nil {
			if c.Ballot != nil {
				defs.own[c.Ballot.ID] = c.Ballot
			}
			continue
		}
		if err := decodeErrs[i]; err != nil {
			return nil, refuse(i, err)
		}
		tx := decoded[i]
		if tx.Definition != nil {
			c, err := ballot.Check(r, tx, txs[i], defs)
			if err != nil {
				return nil, refuse(i, err)
			}
			out[i] = c
			defs.own[c.Ballot.ID] = c.Ballot
			continue
		}
		todo = append(todo, i)
	}
	errs := make([]error, len(txs))
	checkInBatches(r, todo, decoded, txs, defs, out, errs)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, i := range todo {
		if errs[i] != nil {
			return nil, refuse(i, errs[i])
		}
	}
	blocks := make([][]*ballot.Checked, len(run))
	for k := range run {
		blocks[k] = out[starts[k]:starts[k+1]:starts[k+1]]
	}
	return blocks, nil
}

// Batches of signatures to check: from minBatch on, Ed25519 batch
// verification costs about half as much per signature as one by one;
// beyond maxBatch it gains nothing more, and smaller batches spread a
// block over all cores.
const (
	minBatch = 16
	maxBatch = 128
)

// batchSize is the size of the batches n signatures are checked in: a
// share per core, from minBatch to maxBatch.
func batchSize(n int) int {
	workers := runtime.GOMAXPROCS(0)
	return min(max((n+workers-1)/workers, minBatch), maxBatch)
}

// checkInBatches applies the stateless rules to txs[i] (decoded[i]) for
// each i in todo, in batches on all cores at once (a block's: no
// verifier slot, see Verifiers), and writes out[i] or errs[i].
func checkInBatches(r ballot.Rules, todo []int, decoded []*ballot.Tx, txs [][]byte, st ballot.Ballots, out []*ballot.Checked, errs []error) {
	if len(todo) == 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	size := batchSize(len(todo))
	chunks := (len(todo) + size - 1) / size
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, chunks) {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= chunks {
					return
				}
				part := todo[k*size : min((k+1)*size, len(todo))]
				ptxs := make([]*ballot.Tx, len(part))
				pdata := make([][]byte, len(part))
				for j, i := range part {
					ptxs[j], pdata[j] = decoded[i], txs[i]
				}
				checked, perrs := ballot.CheckBatch(r, ptxs, pdata, st)
				for j, i := range part {
					out[i], errs[i] = checked[j], perrs[j]
				}
			}
		})
	}
	wg.Wait()
}

// parallel is the ballot.Parallel of the app: fn on all cores, in
// contiguous ranges, for a sealed ballot's count.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		ballot.Sequential(n, fn)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// countCasts counts the casts among decoded[i], i in todo.
func countCasts(todo []int, decoded []*ballot.Tx) int {
	n := 0
	for _, i := range todo {
		if decoded[i].Cast != nil {
			n++
		}
	}
	return n
}

// lookupWith finds ballots in base (if set) or among those of the blocks
// at hand. own is written only between verifications, read during them.
type lookupWith struct {
	base ballot.Ballots
	own  map[consensus.Hash]*ballot.Ballot
}

func (l *lookupWith) Ballot(id consensus.Hash) (*ballot.Ballot, bool, error) {
	if b, ok := l.own[id]; ok {
		return b, true, nil
	}
	if l.base == nil {
		return nil, false, nil
	}
	return l.base.Ballot(id)
}

func newLookup(base ballot.Ballots) *lookupWith {
	return &lookupWith{base: base, own: map[consensus.Hash]*ballot.Ballot{}}
}

// verified returns a transaction verified already: in the mempool, or by
// VerifyFetched.
func (a *App) verified(id consensus.Hash) (*ballot.Checked, bool) {
	if c, ok := a.pool.Get(id); ok {
		return c, true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	c, ok := a.preverified[id]
	return c, ok
}
