package app

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

// replayState is the state a replay applies blocks to: in memory (a
// recount, the fastest) or in a scratch ledger (a node's re-verification,
// whose memory must not grow with the chain).
type replayState interface {
	ballot.State
	AppHash() consensus.Hash
	apply(u *ballot.Update) error
}

// memReplay keeps the whole state in memory: the recount's peak RSS at
// 1,000,000 voter records was 1.0 GB (the records, their places, the
// records list's leaves, Go's maps and collector), tens of GB at the
// reference scale; with diskReplay 435 MB, at 0.93 of the speed.
type memReplay struct{ *ballot.MemState }

func (m memReplay) apply(u *ballot.Update) error { m.Apply(u); return nil }

// diskReplay keeps the state in a scratch ledger, as a node keeps its
// own: 1/8 of a hash and a filter's 1.2 bytes a record in memory, the
// rest on disk (about the size of the node's own state, while it runs).
type diskReplay struct {
	*ballot.KVState
	l *store.Ledger
}

func (d diskReplay) apply(u *ballot.Update) error {
	if err := putState(d.l)(u.Writes()); err != nil {
		return fmt.Errorf("scratch ledger: %w", err)
	}
	d.Remember(u)
	return nil
}

// newReplayState returns an empty state for a replay: in a scratch
// ledger in the folder scratch (made afresh; done closes and removes
// it), or in memory if scratch is empty.
func newReplayState(g *consensus.Genesis, scratch string) (st replayState, done func(), err error) {
	if scratch == "" {
		return memReplay{ballot.NewMemState()}, func() {}, nil
	}
	if err := os.RemoveAll(scratch); err != nil {
		return nil, nil, err
	}
	sl, err := store.Open(scratch, g.Hash(), store.Options{Scratch: true, CacheBytes: 32 << 20, ReserveBytes: -1})
	if err != nil {
		return nil, nil, fmt.Errorf("scratch ledger: %w", err)
	}
	done = func() {
		sl.Close()
		os.RemoveAll(scratch)
	}
	kv, err := ballot.NewStoredKVState(ballot.NewRules(g), sl, putState(sl), 0)
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("scratch ledger: %w", err)
	}
	return diskReplay{kv, sl}, done, nil
}

// replay is the apply stage of a recount: each verified block's parent
// hash and header app hash against the chain so far, then its state
// changes, in order.
func replay(in <-chan verifiedBlock, st replayState, rules ballot.Rules, genesis consensus.Hash, id consensus.Hash, rep *RecountReport, progress func(uint64, uint64)) error {
	prev := genesis
	for v := range in {
		b, h := v.Block, v.Block.Header.Height
		hdr := &b.Header
		if hdr.PrevHash != prev {
			return fmt.Errorf("block %d: parent %s, block %d is %s", h, hdr.PrevHash.Short(), h-1, prev.Short())
		}
		if hdr.AppHash != st.AppHash() {
			return fmt.Errorf("block %d: header app hash %s, the recount's results after block %d hash to %s",
				h, hdr.AppHash.Short(), h-1, st.AppHash().Short())
		}
		rep.AppHashes++
		prev = b.Hash()
		batch := ballot.NewBatch(st, rules, h, hdr.Time)
		batch.SetParallel(parallel) // a sealed ballot's count decrypts on all cores
		for i, tx := range v.checked {
			if err := batch.Add(tx); err != nil {
				return fmt.Errorf("block %d tx %d: %w", h, i, err)
			}
			if tx.Cast != nil && tx.Cast.BallotID == id {
				rep.Casts++
			}
		}
		u, err := batch.Finish()
		if err != nil {
			return err
		}
		if err := st.apply(u); err != nil {
			return err
		}
		rep.Blocks++
		rep.Txs += uint64(len(b.Txs))
		if progress != nil {
			progress(h, rep.Height)
		}
	}
	return nil
}

// replayLedger runs the replay pipeline over blocks 1..top of l (read and
// check each block and commit, verify every transaction on all cores,
// apply in order to st, checking every header's app hash) and leaves st
// the state after block top. Casts of ballot id are counted.
func replayLedger(ctx context.Context, l *store.Ledger, g *consensus.Genesis, st replayState, id consensus.Hash, top uint64, progress func(uint64, uint64)) (*RecountReport, error) {
	rules := ballot.NewRules(g)
	rep := &RecountReport{Ballot: id, Height: top}
	ctx, cancel := context.WithCancel(ctx)
	read := make(chan FinalBlock, 16)
	verified := make(chan verifiedBlock, 2*runTxs/64)
	var wg sync.WaitGroup
	var readErr, verifyErr error
	wg.Go(func() {
		defer close(read)
		readErr = readLedger(ctx, l, g, rules.Chain, 1, top, read)
	})
	wg.Go(func() {
		defer close(verified)
		verifyErr = verifyStream(ctx, rules, g.Params.MaxTxBytes, newLookup(nil), read, verified)
	})
	applyErr := replay(verified, st, rules, g.Hash(), id, rep, progress)
	cancel()
	for range verified { // let the stages see the cancellation and end
	}
	wg.Wait()
	// A stage that fails ends the others (verify and read see the closed
	// channel or the cancellation): its error is the first one here.
	for _, err := range []error{applyErr, verifyErr, readErr} {
		if err != nil {
			return nil, err
		}
	}
	if rep.Blocks != top {
		return nil, fmt.Errorf("replay stopped at block %d of %d", rep.Blocks, top)
	}
	return rep, nil
}

// Reverify replays blocks 1..to of l as Recount does (every commit, every
// signature of every transaction, every header's app hash) and checks the
// state it reaches against the app hash of header to+1, which the
// validators signed: what a node that joined by state sync at height to
// runs once its back-fill is done, so that it has verified every cast of
// the chain itself. l must hold blocks 1..to+1.
//
// The replayed state is kept in a scratch ledger in the folder scratch
// (made afresh, removed at the end), so that the node's memory does not
// grow with the chain; an empty scratch keeps it in memory, as a
// recount does.
func Reverify(ctx context.Context, l *store.Ledger, g *consensus.Genesis, to uint64, scratch string) error {
	st, done, err := newReplayState(g, scratch)
	if err != nil {
		return err
	}
	defer done()
	if _, err := replayLedger(ctx, l, g, st, consensus.Hash{}, to, nil); err != nil {
		return err
	}
	next, err := l.Header(to + 1)
	if err != nil {
		return err
	}
	if got := st.AppHash(); got != next.AppHash {
		return fmt.Errorf("%w: the state replayed up to block %d hashes to %s, block %d's header says %s",
			consensus.ErrBlockInvalid, to, got.Short(), to+1, next.AppHash.Short())
	}
	return nil
}

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
// is called after each block with (height, last height). With a scratch
// folder, the recomputed state is kept in a scratch ledger there (made
// afresh, removed at the end), as Reverify keeps it, instead of in
// memory: slower, for a state that does not fit in memory.
func Recount(ctx context.Context, l *store.Ledger, g *consensus.Genesis, id consensus.Hash, scratch string, progress func(uint64, uint64)) (*RecountReport, error) {
	start := time.Now()
	st, done, err := newReplayState(g, scratch)
	if err != nil {
		return nil, err
	}
	defer done()
	rep, err := replayLedger(ctx, l, g, st, id, l.Height(), progress)
	if err != nil {
		return nil, err
	}
	b, found, _ := st.Ballot(id)
	if !found {
		return nil, fmt.Errorf("ballot %s is not in this ledger (height %d)", id, rep.Height)
	}
	rep.Question, rep.Choices = b.Def.Question, b.Def.Choices
	res, _, _ := st.Results(id)
	rep.Counts = res.Counts
	stored, found, err := ballot.StoredResults(l, id) // (the stored state is not loaded: one read)
	if err != nil || !found {
		return nil, fmt.Errorf("stored results of %s: found %v, %v", id, found, err)
	}
	rep.Stored = stored.Counts
	rep.Agree = slices.Equal(rep.Counts, rep.Stored) && res.Casts == stored.Casts
	rep.Took = time.Since(start)
	return rep, nil
}
