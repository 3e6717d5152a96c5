package store

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocorico/node/consensus"
)

// State sync (docs/OPERATIONS.md §Ledger): a new node restores the
// application's state at a recent height h from a peer's snapshot
// (BeginRestore, RestoreWrites many times, FinishRestore with block h),
// follows the chain from h+1 with Commit, and fills blocks 1..h-1 in the
// background (Backfill, in increasing order). Until the gap closes, reads
// of a block in it answer ErrNotBackfilled.

// Base returns the lowest height of the top range of blocks: 1 for a
// ledger synced from genesis or whose back-fill is done, h for a ledger
// restored at h whose gap is still open.
func (l *Ledger) Base() uint64 { return l.span.Load().base }

// Filled returns the height up to which blocks below the base are stored:
// 0 when nothing is back-filled yet, and for a whole ledger.
func (l *Ledger) Filled() uint64 { return l.span.Load().filled }

// Whole reports whether the ledger holds every block from 1 to its height.
func (l *Ledger) Whole() bool { return l.Base() == 1 }

// inGap reports whether the block at height is missing because it is not
// back-filled yet (Filled() < height < Base()); no Pebble read.
func (l *Ledger) inGap(height uint64) bool {
	s := l.span.Load()
	return s.filled < height && height < s.base
}

// VerifiedFrom returns the height from which this node verified every
// cast of every block itself: 1 for a ledger synced from genesis, h+1 for
// one restored from a snapshot at h until the node has re-verified blocks
// 1..h (Reverified). The back-fill does not lower it (the blocks below the
// base are checked against their commits only), and it holds across
// restarts.
func (l *Ledger) VerifiedFrom() uint64 { return l.verifiedFrom.Load() }

// Reverified records, synced, that the node has verified every cast of
// blocks 1..VerifiedFrom()-1 itself (node/app.Reverify): VerifiedFrom is
// 1 from now on. The ledger must be whole.
func (l *Ledger) Reverified() error {
	l.fillMu.Lock()
	defer l.fillMu.Unlock()
	if !l.Whole() {
		return fmt.Errorf("reverified: blocks %d..%d are not back-filled yet", l.Filled()+1, l.Base()-1)
	}
	batch := l.db.NewBatch()
	defer batch.Close()
	batch.Set(keyVerified, be64(1), nil)
	if err := l.reserve.commit(batch, pebble.Sync); err != nil {
		return fmt.Errorf("reverified: %w", l.corrupt.wrap(err))
	}
	l.verifiedFrom.Store(1)
	return nil
}

// BeginRestore starts restoring the application's state from a snapshot.
// It is allowed on an empty ledger (height 0) only, and deletes every state
// key first: the partial state of a restore that was interrupted (Open
// with Options.ResumeRestore) or abandoned (BeginRestore again, after a bad
// snapshot) is simply redone. The "m/restoring" marker is written in the
// same synced batch, so that a node stopping before FinishRestore finds
// its ledger refused at Open with ErrRestoreIncomplete.
func (l *Ledger) BeginRestore() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.Height(); h != 0 {
		return fmt.Errorf("begin restore: the ledger holds blocks up to %d: state sync starts an empty ledger only", h)
	}
	batch := l.db.NewBatch()
	defer batch.Close()
	batch.DeleteRange(prefixState, upperBound(prefixState), nil)
	batch.Set(keyRestoring, nil, nil)
	if err := l.reserve.commit(batch, pebble.Sync); err != nil {
		return fmt.Errorf("begin restore: %w", l.corrupt.wrap(err))
	}
	l.restore = restoreUnderWay
	return nil
}

// AbandonRestore ends a restore that will not finish (no usable
// snapshot): every state key and the marker are deleted in one synced
// batch, and the ledger is the empty ledger it was, for a replay from
// genesis or another restore.
func (l *Ledger) AbandonRestore() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.restore != restoreUnderWay {
		return fmt.Errorf("abandon restore: no restore under way")
	}
	batch := l.db.NewBatch()
	defer batch.Close()
	batch.DeleteRange(prefixState, upperBound(prefixState), nil)
	batch.Delete(keyRestoring, nil)
	if err := l.reserve.commit(batch, pebble.Sync); err != nil {
		return fmt.Errorf("abandon restore: %w", l.corrupt.wrap(err))
	}
	l.restore = restoreNone
	return nil
}

// RestoreWrites stores a chunk of the restored state (keys without the
// ledger's "s/" prefix) in one batch. It is called many times between
// BeginRestore and FinishRestore, and does not fsync: FinishRestore's
// synced batch makes every chunk durable, and a crash before it leaves the
// marker, so the restore is redone.
func (l *Ledger) RestoreWrites(writes []KV) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.restore != restoreUnderWay {
		return fmt.Errorf("restore writes: no restore under way (BeginRestore first)")
	}
	batch := l.db.NewBatch()
	defer batch.Close()
	for _, w := range writes {
		batch.Set(cat(prefixState, w.Key), w.Value, nil)
	}
	if err := l.reserve.commit(batch, pebble.NoSync); err != nil {
		return fmt.Errorf("restore writes: %w", l.corrupt.wrap(err))
	}
	return nil
}

// FinishRestore ends a restore with the block at the snapshot's height h:
// it writes block h as Commit does (header, transactions, commit, index;
// no state: the restored state is the state after h), sets the height and
// the base to h, nothing back-filled, VerifiedFrom to h+1, and deletes
// the marker, in one synced batch. Commit then goes on at h+1, Backfill
// at 1.
//
// One synced batch is enough to make the earlier RestoreWrites durable:
// Pebble writes every batch to one log file at a time, in commit order,
// and a synced commit fsyncs that file up to its own record (and with
// it every record before); when Pebble moves to a new log file it syncs
// and closes the old one first (record.LogWriter.Close). DB.Checkpoint's
// WithFlushedWAL relies on the same property ("equivalent to calling
// DB.LogData(nil, Sync)").
func (l *Ledger) FinishRestore(b *consensus.Block, c *consensus.Commit, txIDs []consensus.Hash) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := b.Header.Height
	if l.restore != restoreUnderWay {
		return fmt.Errorf("finish restore at %d: no restore under way (BeginRestore first)", h)
	}
	if h == 0 {
		return fmt.Errorf("finish restore: block height 0")
	}
	if len(txIDs) != len(b.Txs) {
		return fmt.Errorf("finish restore at %d: %d tx ids for %d txs", h, len(txIDs), len(b.Txs))
	}
	batch := l.db.NewBatch()
	defer batch.Close()
	writeBlock(batch, b, c, txIDs)
	batch.Set(keyBase, be64(h), nil)
	batch.Set(keyFilled, be64(0), nil)
	batch.Set(keyHeight, be64(h), nil)
	batch.Set(keyVerified, be64(h+1), nil)
	batch.Delete(keyRestoring, nil)
	if err := l.reserve.commit(batch, pebble.Sync); err != nil {
		return fmt.Errorf("finish restore at %d: %w", h, l.corrupt.wrap(err))
	}
	// Before the height: a reader that sees height h sees h+1 here too.
	l.verifiedFrom.Store(h + 1)
	l.span.Store(&span{base: h})
	l.height.Store(h)
	l.restore = restoreNone
	return nil
}

// Backfill stores block Filled()+1 below the base of a restored ledger:
// header, transactions, commit and index, never state (the state is the
// top's). It is synced as Commit is (Options.NoSync). When it is block
// Base()-1 the gap closes in the same batch: base 1 and filled 0, the
// ledger is whole as one synced from genesis, but VerifiedFrom stays: the
// casts in back-filled blocks were not verified here. Backfill may run beside
// Commit (its own lock); the caller checks the block against its commit
// and the next block's PrevHash, the ledger only the height (ErrNotNext).
func (l *Ledger) Backfill(b *consensus.Block, c *consensus.Commit, txIDs []consensus.Hash) error {
	l.fillMu.Lock()
	defer l.fillMu.Unlock()
	h := b.Header.Height
	s := l.span.Load()
	if s.base == 1 {
		return fmt.Errorf("%w: back-fill block %d: the ledger is whole", ErrNotNext, h)
	}
	if want := s.filled + 1; h != want {
		return fmt.Errorf("%w: back-fill got %d, want %d", ErrNotNext, h, want)
	}
	if len(txIDs) != len(b.Txs) {
		return fmt.Errorf("back-fill block %d: %d tx ids for %d txs", h, len(txIDs), len(b.Txs))
	}
	next := &span{base: s.base, filled: h}
	if h+1 == s.base {
		next = &span{base: 1}
	}
	batch := l.db.NewBatch()
	defer batch.Close()
	writeBlock(batch, b, c, txIDs)
	batch.Set(keyBase, be64(next.base), nil)
	batch.Set(keyFilled, be64(next.filled), nil)
	if err := l.reserve.commit(batch, l.syncOpt()); err != nil {
		return fmt.Errorf("back-fill block %d: %w", h, l.corrupt.wrap(err))
	}
	l.span.Store(next)
	return nil
}
