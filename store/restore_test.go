package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/cocorico/node/consensus"
)

// testChain returns blocks 1..n (index 0 is block 1) and their tx ids.
func testChain(n int) ([]*consensus.Block, [][]consensus.Hash) {
	blocks := make([]*consensus.Block, n)
	ids := make([][]consensus.Hash, n)
	prev := genesis
	for i := range blocks {
		blocks[i], ids[i] = testBlock(uint64(i+1), prev, 3)
		prev = blocks[i].Hash()
	}
	return blocks, ids
}

// restoreChunks writes n state keys "k0000".. in chunks of chunk.
func restoreChunks(t *testing.T, l *Ledger, n, chunk int) {
	t.Helper()
	var writes []KV
	for i := range n {
		writes = append(writes, KV{Key: []byte(fmt.Sprintf("k%04d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
		if len(writes) == chunk || i == n-1 {
			if err := l.RestoreWrites(writes); err != nil {
				t.Fatal(err)
			}
			writes = nil
		}
	}
}

// restoredLedger opens a ledger on fs and restores it at block at of
// chain, with n state keys.
func restoredLedger(t *testing.T, fs vfs.FS, dir string, chain []*consensus.Block, ids [][]consensus.Hash, at uint64, n int) *Ledger {
	t.Helper()
	l, err := Open(dir, genesis, Options{FS: fs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.BeginRestore(); err != nil {
		t.Fatal(err)
	}
	restoreChunks(t, l, n, 7)
	b := chain[at-1]
	if err := l.FinishRestore(b, testCommit(b), ids[at-1]); err != nil {
		t.Fatal(err)
	}
	return l
}

func backfill(t *testing.T, l *Ledger, chain []*consensus.Block, ids [][]consensus.Hash, from, to uint64) {
	t.Helper()
	for h := from; h <= to; h++ {
		b := chain[h-1]
		if err := l.Backfill(b, testCommit(b), ids[h-1]); err != nil {
			t.Fatalf("back-fill %d: %v", h, err)
		}
	}
}

func TestRestoredLedgerStartsAtItsBaseAndCommitsOnFromThere(t *testing.T) {
	dir := t.TempDir()
	chain, ids := testChain(12)
	l := restoredLedger(t, nil, dir, chain, ids, 10, 50)
	if l.Height() != 10 || l.Base() != 10 || l.Filled() != 0 || l.Whole() {
		t.Fatalf("height %d base %d filled %d whole %v, want 10 10 0 false", l.Height(), l.Base(), l.Filled(), l.Whole())
	}
	if b, err := l.Block(10); err != nil || b.Hash() != chain[9].Hash() {
		t.Fatalf("block 10: %v", err)
	}
	if h, i, err := l.TxLocation(ids[9][2]); err != nil || h != 10 || i != 2 {
		t.Fatalf("tx index of block 10: %d %d %v", h, i, err)
	}
	b := chain[10]
	if err := l.Commit(b, testCommit(b), ids[10], []KV{{Key: []byte("k0001"), Value: []byte("new")}}); err != nil {
		t.Fatal(err)
	}
	l = reopen(t, l, dir)
	if l.Height() != 11 || l.Base() != 10 || l.Filled() != 0 {
		t.Fatalf("after reopen: height %d base %d filled %d, want 11 10 0", l.Height(), l.Base(), l.Filled())
	}
	if n := countState(t, l); n != 50 {
		t.Fatalf("restored state: %d keys, want 50", n)
	}
	if v, _, _ := l.Get([]byte("k0001")); string(v) != "new" {
		t.Fatalf("k0001 = %q after block 11, want new", v)
	}
	if v, _, _ := l.Get([]byte("k0049")); string(v) != "v49" {
		t.Fatalf("k0049 = %q, want v49", v)
	}
}

func TestReadsInTheBackfillGapAnswerErrNotBackfilled(t *testing.T) {
	chain, ids := testChain(10)
	l := restoredLedger(t, nil, t.TempDir(), chain, ids, 10, 5)
	defer l.Close()
	backfill(t, l, chain, ids, 1, 3)
	if l.Filled() != 3 || l.Base() != 10 {
		t.Fatalf("filled %d base %d, want 3 10", l.Filled(), l.Base())
	}
	for _, h := range []uint64{4, 5, 9} {
		_, errH := l.Header(h)
		_, errB := l.Block(h)
		_, errT := l.Tx(h, 0)
		_, errC := l.CommitAt(h)
		for _, err := range []error{errH, errB, errT, errC} {
			if !errors.Is(err, ErrNotBackfilled) || !errors.Is(err, ErrNotFound) {
				t.Fatalf("height %d in the gap: %v, want ErrNotBackfilled and ErrNotFound", h, err)
			}
		}
	}
	for _, h := range []uint64{1, 3, 10} {
		if b, err := l.Block(h); err != nil || b.Hash() != chain[h-1].Hash() {
			t.Fatalf("block %d: %v", h, err)
		}
		if c, err := l.CommitAt(h); err != nil || c.BlockHash != chain[h-1].Hash() {
			t.Fatalf("commit %d: %v", h, err)
		}
		if tx, err := l.Tx(h, 1); err != nil || !bytes.Equal(tx, chain[h-1].Txs[1]) {
			t.Fatalf("tx 1 of %d: %v", h, err)
		}
	}
	if _, err := l.Header(11); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotBackfilled) {
		t.Fatalf("header above the height: %v, want ErrNotFound only", err)
	}
}

func TestBackfillClosesTheGapAndTheLedgerBecomesWhole(t *testing.T) {
	dir := t.TempDir()
	chain, ids := testChain(10)
	l := restoredLedger(t, nil, dir, chain, ids, 10, 5)
	backfill(t, l, chain, ids, 1, 8)
	if l.Whole() || l.Filled() != 8 {
		t.Fatalf("whole %v filled %d before the last block, want false 8", l.Whole(), l.Filled())
	}
	backfill(t, l, chain, ids, 9, 9)
	if !l.Whole() || l.Base() != 1 || l.Filled() != 0 {
		t.Fatalf("whole %v base %d filled %d after the gap closed, want true 1 0", l.Whole(), l.Base(), l.Filled())
	}
	l = reopen(t, l, dir)
	if !l.Whole() || l.Base() != 1 || l.Filled() != 0 || l.Height() != 10 {
		t.Fatalf("after reopen: whole %v base %d filled %d height %d", l.Whole(), l.Base(), l.Filled(), l.Height())
	}
	for h := uint64(1); h <= 10; h++ {
		if b, err := l.Block(h); err != nil || b.Hash() != chain[h-1].Hash() {
			t.Fatalf("block %d: %v", h, err)
		}
	}
	if h, i, err := l.TxLocation(ids[4][1]); err != nil || h != 5 || i != 1 {
		t.Fatalf("tx index of a back-filled block: %d %d %v", h, i, err)
	}
	if n := countState(t, l); n != 5 {
		t.Fatalf("state after back-fill: %d keys, want the 5 restored", n)
	}
}

// A node that joined from a snapshot at h verified the casts of blocks
// h+1 on only: its ledger says so from FinishRestore on, across restarts,
// and still once the back-fill (commits checked, not casts) is done;
// Reverified, refused before the back-fill ends, sets 1 for good.
func TestVerifiedFromIsOneUntilARestoreAndStaysAfterItsBackfillUntilReverified(t *testing.T) {
	dir := t.TempDir()
	l := openTestLedger(t)
	chain, ids := testChain(12)
	if got := l.VerifiedFrom(); got != 1 {
		t.Fatalf("a fresh ledger verified from %d, want 1", got)
	}
	if err := l.Commit(chain[0], testCommit(chain[0]), ids[0], nil); err != nil || l.VerifiedFrom() != 1 {
		t.Fatalf("a ledger synced from genesis: %v, verified from %d, want 1", err, l.VerifiedFrom())
	}

	l = restoredLedger(t, nil, dir, chain, ids, 10, 5)
	if err := l.Reverified(); err == nil || l.VerifiedFrom() != 11 {
		t.Fatalf("Reverified before the back-fill: %v, verified from %d; want refused, 11", err, l.VerifiedFrom())
	}
	check := func(when string) {
		t.Helper()
		if got := l.VerifiedFrom(); got != 11 {
			t.Fatalf("%s: verified from %d, want 11 (restored at 10)", when, got)
		}
	}
	check("after FinishRestore")
	if err := l.Commit(chain[10], testCommit(chain[10]), ids[10], nil); err != nil {
		t.Fatal(err)
	}
	check("after a commit above the base")
	l = reopen(t, l, dir)
	check("after reopening")
	backfill(t, l, chain, ids, 1, 9)
	if !l.Whole() {
		t.Fatal("the back-fill did not close the gap")
	}
	check("after the back-fill")
	l = reopen(t, l, dir)
	check("after reopening the back-filled ledger")
	if err := l.Reverified(); err != nil || l.VerifiedFrom() != 1 {
		t.Fatalf("Reverified on the whole ledger: %v, verified from %d, want 1", err, l.VerifiedFrom())
	}
	l = reopen(t, l, dir)
	if got := l.VerifiedFrom(); got != 1 {
		t.Fatalf("after reopening a re-verified ledger: verified from %d, want 1", got)
	}
}

func TestBackfillTakesOnlyTheNextMissingHeight(t *testing.T) {
	chain, ids := testChain(5)
	l := restoredLedger(t, nil, t.TempDir(), chain, ids, 5, 1)
	defer l.Close()
	for _, h := range []uint64{2, 5} {
		b := chain[h-1]
		if err := l.Backfill(b, testCommit(b), ids[h-1]); !errors.Is(err, ErrNotNext) {
			t.Fatalf("back-fill %d first: %v, want ErrNotNext", h, err)
		}
	}
	backfill(t, l, chain, ids, 1, 4)
	b := chain[0]
	if err := l.Backfill(b, testCommit(b), ids[0]); !errors.Is(err, ErrNotNext) {
		t.Fatalf("back-fill on a whole ledger: %v, want ErrNotNext", err)
	}
}

func TestAnInterruptedRestoreIsRefusedAtOpenAndRedoneFromScratch(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.BeginRestore(); err != nil {
		t.Fatal(err)
	}
	if err := l.RestoreWrites([]KV{{Key: []byte("old"), Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil { // the node stops before FinishRestore
		t.Fatal(err)
	}

	if _, err := Open(dir, genesis, Options{}); !errors.Is(err, ErrRestoreIncomplete) {
		t.Fatalf("open after an interrupted restore: %v, want ErrRestoreIncomplete", err)
	}
	l, err = Open(dir, genesis, Options{ResumeRestore: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	chain, ids := testChain(3)
	if err := l.Commit(chain[0], testCommit(chain[0]), ids[0], nil); err == nil {
		t.Fatal("Commit on a half-restored ledger succeeded")
	}
	if err := l.RestoreWrites([]KV{{Key: []byte("x"), Value: nil}}); err == nil {
		t.Fatal("RestoreWrites before BeginRestore succeeded")
	}
	if err := l.FinishRestore(chain[2], testCommit(chain[2]), ids[2]); err == nil {
		t.Fatal("FinishRestore before BeginRestore succeeded")
	}
	if err := l.BeginRestore(); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := l.Get([]byte("old")); found {
		t.Fatal("the interrupted restore's state survived BeginRestore")
	}
	if err := l.RestoreWrites([]KV{{Key: []byte("new"), Value: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	if err := l.FinishRestore(chain[2], testCommit(chain[2]), ids[2]); err != nil {
		t.Fatal(err)
	}
	l = reopen(t, l, dir) // the marker is gone
	var keys []string
	if err := l.Scan(nil, func(k, v []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[new]" || l.Height() != 3 || l.Base() != 3 {
		t.Fatalf("state %v height %d base %d, want [new] 3 3", keys, l.Height(), l.Base())
	}
}

func TestBeginRestoreRefusesALedgerWithBlocks(t *testing.T) {
	l := openTestLedger(t)
	commitBlocks(t, l, 2)
	if err := l.BeginRestore(); err == nil {
		t.Fatal("BeginRestore on a ledger at height 2 succeeded")
	}
	if _, found, _ := l.Get([]byte{1}); !found {
		t.Fatal("a refused BeginRestore deleted state")
	}
}

// The chunks are written without fsync; FinishRestore's one synced batch
// makes them all durable (a power cut right after keeps them all), and a
// power cut before it leaves the marker (synced by BeginRestore).
func TestFinishRestoreMakesEveryEarlierChunkDurable(t *testing.T) {
	chain, ids := testChain(4)
	mem := vfs.NewCrashableMem()
	l, err := Open("ledger", genesis, Options{FS: mem, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.BeginRestore(); err != nil {
		t.Fatal(err)
	}
	restoreChunks(t, l, 3000, 500)
	cutBefore := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	if err := l.FinishRestore(chain[3], testCommit(chain[3]), ids[3]); err != nil {
		t.Fatal(err)
	}
	cutAfter := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	l.Close()

	if _, err := Open("ledger", genesis, Options{FS: cutBefore, Logger: quietLogger()}); !errors.Is(err, ErrRestoreIncomplete) {
		t.Fatalf("power cut before FinishRestore: %v, want ErrRestoreIncomplete", err)
	}
	if n := countResumed(t, cutBefore); n == 3000 {
		t.Fatal("the chunks were durable before FinishRestore: the test proves nothing")
	}
	l, err = Open("ledger", genesis, Options{FS: cutAfter, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n := countState(t, l); n != 3000 || l.Height() != 4 || l.Base() != 4 {
		t.Fatalf("power cut after FinishRestore: %d of 3000 keys, height %d, base %d", n, l.Height(), l.Base())
	}
}

// countResumed counts the state keys of an interrupted restore.
func countResumed(t *testing.T, fs vfs.FS) int {
	t.Helper()
	l, err := Open("ledger", genesis, Options{FS: fs, Logger: quietLogger(), ResumeRestore: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return countState(t, l)
}

// countState counts the keys of the ledger's state.
func countState(t *testing.T, l *Ledger) int {
	t.Helper()
	n := 0
	if err := l.Scan(nil, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// reopen closes l and opens its folder again; the new ledger is closed
// at the test's end.
func reopen(t *testing.T, l *Ledger, dir string) *Ledger {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestAnAbandonedRestoreLeavesTheEmptyLedgerItWasAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AbandonRestore(); err == nil {
		t.Fatal("AbandonRestore without a restore under way succeeded")
	}
	if err := l.BeginRestore(); err != nil {
		t.Fatal(err)
	}
	restoreChunks(t, l, 20, 7)
	if err := l.AbandonRestore(); err != nil {
		t.Fatal(err)
	}
	l = reopen(t, l, dir) // no marker: opens without ResumeRestore
	defer l.Close()
	if err := l.Scan(nil, func(k, _ []byte) error { return fmt.Errorf("state key %q left", k) }); err != nil {
		t.Fatal(err)
	}
	chain, ids := testChain(1)
	if err := l.Commit(chain[0], testCommit(chain[0]), ids[0], nil); err != nil || l.Height() != 1 || !l.Whole() {
		t.Fatalf("replay from genesis after an abandoned restore: %v, height %d, whole %v", err, l.Height(), l.Whole())
	}
}
