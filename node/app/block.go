package app

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

// ProposeBlock builds the next block from the mempool, oldest first,
// leaving out (and dropping) what no longer passes the stateful rules.
func (a *App) ProposeBlock(ctx context.Context, height uint64, proposer uint16, t time.Time) (*consensus.Block, error) {
	tipHeight, tipHash, tipTime := a.Tip()
	if height != tipHeight+1 {
		return nil, fmt.Errorf("propose height %d on a chain at %d", height, tipHeight)
	}
	p := a.genesis.Params
	blockTime := max(t.UnixMilli(), tipTime+1)
	batch := ballot.NewBatch(a.state, a.rules, height, blockTime)
	batch.SetParallel(parallel)
	batch.SetCounts(a.counts)
	txs := [][]byte{} // an empty block's list is an empty array, never null (PROTOCOL §2, §6)
	var ids, bad []consensus.Hash
	for _, tx := range inSeqOrder(a.pool.Reap(p.MaxBlockTxs, p.MaxBlockBytes)) {
		if err := batch.Add(tx); err != nil {
			bad = append(bad, tx.ID)
			continue
		}
		txs = append(txs, tx.Bytes)
		ids = append(ids, tx.ID)
	}
	if len(bad) > 0 {
		a.pool.Remove(bad)
		a.metrics.MempoolDropped.Add(float64(len(bad)))
	}
	update, err := batch.Finish()
	if err != nil {
		return nil, err
	}
	a.mu.RLock()
	appHash := a.appHash
	a.mu.RUnlock()
	b := &consensus.Block{
		Header: consensus.Header{
			ChainID: a.genesis.ChainID, Height: height, Time: blockTime, PrevHash: tipHash,
			TxRoot: consensus.MerkleRoot(txs), TxCount: uint32(len(txs)), AppHash: appHash, Proposer: proposer,
		},
		Txs: txs,
	}
	a.remember(b.Hash(), &validBlock{update: update, ids: ids})
	a.metrics.BlocksProposed.Inc()
	return b, nil
}

// inSeqOrder puts the casts of each voter key in seq order, each in a
// place one of them held: gossip can bring a re-vote before the cast it
// replaces, and the earlier one would otherwise be refused (its seq no
// longer above the voter key's) though it was accepted. Everything else
// keeps its arrival order.
func inSeqOrder(txs []*ballot.Checked) []*ballot.Checked {
	places := map[ballot.VoterSlot][]int{}
	for i, tx := range txs {
		if c := tx.Cast; c != nil {
			slot := ballot.VoterSlot{Ballot: c.BallotID, Voter: c.Key()}
			places[slot] = append(places[slot], i)
		}
	}
	for _, at := range places {
		if len(at) < 2 {
			continue
		}
		casts := make([]*ballot.Checked, len(at))
		for k, i := range at {
			casts[k] = txs[i]
		}
		slices.SortStableFunc(casts, func(x, y *ballot.Checked) int { return cmp.Compare(x.Cast.Seq, y.Cast.Seq) })
		for k, i := range at {
			txs[i] = casts[k]
		}
	}
	return txs
}

func (a *App) remember(hash consensus.Hash, v *validBlock) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.validated) > 16 { // a few rounds' worth; cleared at every final block anyway
		clear(a.validated)
	}
	a.validated[hash] = v
}

// ValidateBlock checks a proposed block: its structure, its place on the
// chain (height, parent, app hash), its time (after the parent's) and
// every transaction, in order. How near the block's time is to this
// validator's clock, on both sides, is the driver's timeliness check
// (consensus.Params.Timely): a re-proposal of a locked block must pass
// here whatever the clock says.
func (a *App) ValidateBlock(ctx context.Context, b *consensus.Block) error {
	_, err := a.validate(ctx, b)
	if err != nil {
		a.metrics.BlocksRefused.Inc()
	}
	return err
}

func (a *App) validate(ctx context.Context, b *consensus.Block) (*validBlock, error) {
	hash := b.Hash()
	a.mu.RLock()
	v, ok := a.validated[hash]
	appHash := a.appHash
	a.mu.RUnlock()
	if ok {
		return v, nil
	}
	h := &b.Header
	height, tipHash, tipTime := a.Tip()
	switch {
	case h.Height != height+1:
		return nil, fmt.Errorf("%w: height %d on a chain at %d", consensus.ErrBlockInvalid, h.Height, height)
	case h.PrevHash != tipHash:
		return nil, fmt.Errorf("%w: parent %s, the chain's tip is %s", consensus.ErrBlockInvalid, h.PrevHash.Short(), tipHash.Short())
	case h.AppHash != appHash:
		return nil, fmt.Errorf("%w: app hash %s, the state's is %s", consensus.ErrBlockInvalid, h.AppHash.Short(), appHash.Short())
	case h.Time <= tipTime:
		return nil, fmt.Errorf("%w: block time %d not after the parent's %d", consensus.ErrBlockInvalid, h.Time, tipTime)
	case int(h.Proposer) >= a.vals.Size():
		return nil, fmt.Errorf("%w: proposer %d of %d validators", consensus.ErrBlockInvalid, h.Proposer, a.vals.Size())
	}
	if err := b.CheckStructure(a.genesis.ChainID, a.genesis.Params); err != nil {
		return nil, err
	}
	checked, err := verifyTxs(ctx, a.rules, a.genesis.Params.MaxTxBytes, b.Txs, a.state, a.verified)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	for _, c := range checked {
		if _, pending := a.pool.Get(c.ID); !pending && c.Cast != nil {
			a.proposedTxs[c.ID] = c
		}
	}
	a.mu.Unlock()
	batch := ballot.NewBatch(a.state, a.rules, h.Height, h.Time)
	batch.SetParallel(parallel)
	batch.SetCounts(a.counts)
	v = &validBlock{ids: make([]consensus.Hash, len(checked))}
	for i, tx := range checked {
		if err := batch.Add(tx); err != nil {
			return nil, fmt.Errorf("%w: tx %d: %v", consensus.ErrBlockInvalid, i, err)
		}
		v.ids[i] = tx.ID
	}
	if v.update, err = batch.Finish(); err != nil {
		return nil, err
	}
	a.remember(hash, v)
	return v, nil
}

// ApplyBlock makes a decided block final: one synced ledger batch with
// the block, its commit, the tx index and the state changes; then the
// mempool drops what the block made invalid. The commit must have been
// verified by the caller (the driver built it, or sync checked it).
func (a *App) ApplyBlock(ctx context.Context, b *consensus.Block, c *consensus.Commit) error {
	start := time.Now()
	v, err := a.validate(ctx, b)
	if err != nil {
		return fmt.Errorf("apply block %d: %w", b.Header.Height, err)
	}
	if err := a.ledger.Commit(b, c, v.ids, kvs(v.update.Writes())); err != nil {
		return err
	}
	a.applying.Lock() // until the mempool is updated (App.applying)
	a.state.Remember(v.update)
	a.mu.Lock()
	prevTime := a.tipTime
	a.tipHeight, a.tipHash, a.tipTime, a.appHash = b.Header.Height, b.Hash(), b.Header.Time, v.update.AppHash
	clear(a.validated)
	clear(a.proposedTxs)
	for _, id := range v.ids {
		delete(a.preverified, id)
	}
	a.mu.Unlock()

	var closed map[consensus.Hash]bool
	for _, id := range a.state.ClosingIn(prevTime, b.Header.Time) {
		if closed == nil {
			closed = map[consensus.Hash]bool{}
		}
		closed[id] = true
	}
	dropped := a.pool.Update(v.ids, v.update, closed)
	a.appliedN++
	a.applying.Unlock()
	m := a.metrics
	m.MempoolDropped.Add(float64(dropped))
	m.MempoolTxs.Set(float64(a.pool.Len()))
	m.MempoolBytes.Set(float64(a.pool.Bytes()))
	m.Height.Set(float64(b.Header.Height))
	m.BlockTxs.Observe(float64(len(b.Txs)))
	m.BlockInterval.Observe(float64(b.Header.Time-prevTime) / 1000)
	m.BlockApply.Observe(time.Since(start).Seconds())
	a.logger.Debug("block final", "height", b.Header.Height, "txs", len(b.Txs), "hash", b.Hash().Short(),
		"apply_ms", time.Since(start).Milliseconds())
	if a.after != nil {
		a.after(b)
	}
	a.notifyFinal(b.Header.Height)
	return nil
}

// putState writes state records to l outside a block: a KVState's put
// (the records list's leaves it writes at load).
func putState(l *store.Ledger) func([]ballot.KV) error {
	return func(w []ballot.KV) error { return l.PutState(kvs(w)) }
}

func kvs(w []ballot.KV) []store.KV {
	out := make([]store.KV, len(w))
	for i, kv := range w {
		out[i] = store.KV{Key: kv.Key, Value: kv.Value}
	}
	return out
}
