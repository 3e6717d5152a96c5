package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cocorico/node/consensus"
)

// snapLedger is a ledger on disk whose block h writes "x" = h and "k<h>" = h.
type snapLedger struct {
	*Ledger
	chain []*consensus.Block
	ids   [][]consensus.Hash
}

func newSnapLedger(t *testing.T, opts Options) *snapLedger {
	t.Helper()
	opts.Logger = quietLogger()
	l, err := Open(t.TempDir(), genesis, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	chain, ids := testChain(20)
	return &snapLedger{Ledger: l, chain: chain, ids: ids}
}

// commitTo commits the blocks up to height.
func (s *snapLedger) commitTo(t *testing.T, height uint64) {
	t.Helper()
	for h := s.Height() + 1; h <= height; h++ {
		b := s.chain[h-1]
		v := []byte(fmt.Sprint(h))
		if err := s.Commit(b, testCommit(b), s.ids[h-1], []KV{{Key: []byte("x"), Value: v}, {Key: []byte(fmt.Sprintf("k%02d", h)), Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
}

func openTestSnapshots(t *testing.T, dir string, keep int, maxBytes int64) *Snapshots {
	t.Helper()
	s, err := OpenSnapshots(dir, keep, maxBytes, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// snapFixture is a ledger and a snapshot folder (returned) for it.
func snapFixture(t *testing.T, opts Options, keep int, maxBytes int64) (*snapLedger, *Snapshots, string) {
	t.Helper()
	dir := t.TempDir()
	return newSnapLedger(t, opts), openTestSnapshots(t, dir, keep, maxBytes), dir
}

// commitAndTake commits up to height and takes a snapshot there.
func (l *snapLedger) commitAndTake(t *testing.T, s *Snapshots, height uint64, manifest []byte) {
	t.Helper()
	l.commitTo(t, height)
	if err := s.Take(l.Ledger, height, manifest); err != nil {
		t.Fatal(err)
	}
}

func heights(s *Snapshots) []uint64 {
	var out []uint64
	for _, info := range s.List() {
		out = append(out, info.Height)
	}
	return out
}

// snapDirs lists the folder's entries.
func snapDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestSnapshotTakeKeepsTheNewestAndPrunesOlderOnes(t *testing.T) {
	l := newSnapLedger(t, Options{})
	dir := filepath.Join(t.TempDir(), "snapshots")
	s := openTestSnapshots(t, dir, 3, 0)
	for h := uint64(1); h <= 5; h++ {
		l.commitAndTake(t, s, h, []byte(fmt.Sprintf("manifest %d", h)))
	}
	if got := heights(s); !slices.Equal(got, []uint64{5, 4, 3}) {
		t.Fatalf("snapshots %v, want [5 4 3]", got)
	}
	if got := s.List()[1]; string(got.Manifest) != "manifest 4" {
		t.Fatalf("manifest of 4: %q", got.Manifest)
	}
	want := []string{snapshotName(3), snapshotName(4), snapshotName(5)}
	if got := snapDirs(t, dir); !slices.Equal(got, want) {
		t.Fatalf("folder holds %v, want %v", got, want)
	}
	if err := s.Take(l.Ledger, 5, nil); err == nil {
		t.Fatal("a second snapshot at 5 was taken")
	}
	s.Close()

	s = openTestSnapshots(t, dir, 2, 0) // fewer kept: pruned at open
	if got := heights(s); !slices.Equal(got, []uint64{5, 4}) {
		t.Fatalf("after reopen with keep 2: %v, want [5 4]", got)
	}
	if got := s.List()[0]; string(got.Manifest) != "manifest 5" {
		t.Fatalf("manifest of 5 after reopen: %q", got.Manifest)
	}
}

func TestSnapshotsOverMaxBytesLoseTheOldestButNeverTheNewest(t *testing.T) {
	l, s, dir := snapFixture(t, Options{}, 10, 1) // every snapshot is larger than 1 byte
	for h := uint64(1); h <= 3; h++ {
		l.commitAndTake(t, s, h, nil)
		if got := heights(s); !slices.Equal(got, []uint64{h}) {
			t.Fatalf("after taking %d: %v, want only the newest", h, got)
		}
	}
	s.Close()
	size, err := dirSize(s.fs, filepath.Join(dir, snapshotName(3)))
	if err != nil {
		t.Fatal(err)
	}
	s = openTestSnapshots(t, dir, 10, 2*size+size/2)
	for h := uint64(4); h <= 6; h++ {
		l.commitAndTake(t, s, h, nil)
	}
	got := heights(s)
	if got[0] != 6 {
		t.Fatalf("snapshots %v: the newest is gone", got)
	}
	var total int64
	for _, h := range got {
		n, err := dirSize(s.fs, filepath.Join(dir, snapshotName(h)))
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if len(got) > 1 && total > s.maxBytes {
		t.Fatalf("snapshots %v take %d bytes, over %d", got, total, s.maxBytes)
	}
}

func TestSnapshotUnderAReaderIsDeletedOnlyWhenTheReaderCloses(t *testing.T) {
	l, s, dir := snapFixture(t, Options{}, 1, 0)
	l.commitAndTake(t, s, 1, nil)
	r1, err := s.Open(1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Open(1) // a second reader shares the DB
	if err != nil {
		t.Fatal(err)
	}
	l.commitAndTake(t, s, 2, nil)
	if got := heights(s); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("snapshots %v, want [2]", got)
	}
	if _, err := s.Open(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open a pruned snapshot: %v, want ErrNotFound", err)
	}
	snap1 := filepath.Join(dir, snapshotName(1))
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snap1); err != nil {
		t.Fatalf("snapshot 1 deleted under its second reader: %v", err)
	}
	if v, found, err := r2.Get([]byte("x")); err != nil || !found || string(v) != "1" {
		t.Fatalf("read of the pruned snapshot under its reader: %q %v %v", v, found, err)
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snap1); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("snapshot 1 still there after its last reader closed: %v", err)
	}
	if _, _, err := r2.Get([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("read of a closed reader: %v, want ErrClosed", err)
	}
}

func TestSnapshotReaderSeesTheStateAtItsHeightNotLaterCommits(t *testing.T) {
	// NoSync: the checkpoint must still hold the last blocks (the log is
	// flushed first).
	l, s, _ := snapFixture(t, Options{NoSync: true}, 3, 0)
	l.commitAndTake(t, s, 3, nil)
	l.commitTo(t, 5)
	r, err := s.Open(3)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Height() != 3 {
		t.Fatalf("reader height %d", r.Height())
	}
	if v, found, err := r.Get([]byte("x")); err != nil || !found || string(v) != "3" {
		t.Fatalf("x in snapshot 3: %q %v %v, want 3", v, found, err)
	}
	if _, found, err := r.Get([]byte("k04")); err != nil || found {
		t.Fatalf("k04 (written by block 4) in snapshot 3: %v %v", found, err)
	}
	var all []string
	if err := r.ScanRange(nil, nil, func(k, v []byte) error { all = append(all, string(k)+"="+string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(all) != "[k01=1 k02=2 k03=3 x=3]" {
		t.Fatalf("whole state of snapshot 3: %v", all)
	}
	var some []string
	if err := r.ScanRange([]byte("k02"), []byte("x"), func(k, v []byte) error { some = append(some, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(some) != "[k02 k03]" {
		t.Fatalf("state [k02, x): %v", some)
	}
	stop := errors.New("stop")
	if err := r.ScanRange(nil, nil, func(k, v []byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("an error from fn: %v", err)
	}
	if v, _, _ := l.Get([]byte("x")); string(v) != "5" {
		t.Fatalf("the ledger's x = %q, want 5", v)
	}
}

// A snapshot started in the background (Start, as a node takes them) is
// of the height at which it was started, although the next blocks are
// committed as soon as Start returns (their commits wait for the
// checkpoint, then go on); Close waits for a snapshot under way.
func TestAStartedSnapshotIsOfItsHeightThoughTheNextBlocksAreCommittedAtOnce(t *testing.T) {
	l, s, _ := snapFixture(t, Options{NoSync: true}, 3, 0)
	l.commitTo(t, 3)
	done := s.Start(l.Ledger, 3, []byte("m3"))
	l.commitTo(t, 5)
	endsWithin(t, "the snapshot at 3", done)
	if l.Height() != 5 {
		t.Fatalf("the ledger is at %d, want 5", l.Height())
	}
	r, err := s.Open(3)
	if err != nil {
		t.Fatal(err)
	}
	if v, found, err := r.Get([]byte("x")); err != nil || !found || string(v) != "3" {
		t.Fatalf("x in snapshot 3: %q %v %v, want 3", v, found, err)
	}
	if _, found, err := r.Get([]byte("k04")); err != nil || found {
		t.Fatalf("k04 (written by block 4) in snapshot 3: %v %v", found, err)
	}
	r.Close()
	done = s.Start(l.Ledger, 5, []byte("m5"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	endsWithin(t, "the snapshot at 5, under way at Close", done)
	if got := snapDirs(t, s.dir); !slices.Equal(got, []string{snapshotName(3), snapshotName(5)}) {
		t.Fatalf("folder holds %v, want the snapshots at 3 and 5", got)
	}
}

func TestLeftoversOfAnInterruptedTakeAreRemovedAtOpen(t *testing.T) {
	l, s, dir := snapFixture(t, Options{}, 5, 0)
	l.commitAndTake(t, s, 2, []byte("two"))
	s.Close()
	// A Take stopped during its checkpoint, and one stopped after its
	// rename but whose manifest was lost (or a deletion stopped midway).
	if err := l.Checkpoint(filepath.Join(dir, "tmp-3")); err != nil {
		t.Fatal(err)
	}
	if err := l.Checkpoint(filepath.Join(dir, snapshotName(4))); err != nil {
		t.Fatal(err)
	}
	s = openTestSnapshots(t, dir, 5, 0)
	if got := snapDirs(t, dir); !slices.Equal(got, []string{snapshotName(2)}) {
		t.Fatalf("folder after open: %v, want only snapshot 2", got)
	}
	if got := s.List(); len(got) != 1 || got[0].Height != 2 || string(got[0].Manifest) != "two" {
		t.Fatalf("list %v", got)
	}
}

func TestTakeRefusesALedgerThatMovedOnAndLeavesNothing(t *testing.T) {
	l, s, dir := snapFixture(t, Options{}, 5, 0)
	l.commitTo(t, 3)
	if err := s.Take(l.Ledger, 2, nil); err == nil {
		t.Fatal("a snapshot at 2 was taken of a ledger at 3")
	}
	if got := snapDirs(t, dir); len(got) != 0 || len(s.List()) != 0 {
		t.Fatalf("folder after a refused Take: %v", got)
	}
}

func TestSnapshotsCloseEndsItsReaders(t *testing.T) {
	l, s, _ := snapFixture(t, Options{}, 5, 0)
	l.commitAndTake(t, s, 1, nil)
	r, err := s.Open(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.ScanRange(nil, nil, func(k, v []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("scan after Snapshots.Close: %v, want ErrClosed", err)
	}
	r.Close()
	if _, err := s.Open(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("open after Close: %v, want ErrClosed", err)
	}
}

func TestCheckpointIsRefusedDuringARestore(t *testing.T) {
	l := openTestLedger(t)
	if err := l.BeginRestore(); err != nil {
		t.Fatal(err)
	}
	if err := l.Checkpoint(filepath.Join(t.TempDir(), "cp")); err == nil {
		t.Fatal("a checkpoint of a partial state was taken")
	}
}

// logBytes is the size of the Pebble logs (*.log) in a checkpoint folder.
func logBytes(t *testing.T, dir string) int64 {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, m := range matches {
		st, err := os.Stat(m)
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

// TestAFlushStartedOneBlockBeforeATakeLeavesOnlyTheLastBlockInTheCopiedLog
// proves why a node calls StartFlush a block before each snapshot: the
// checkpoint copies the log of every write not yet in a table, and after
// the flush that is the last block's writes only.
func TestAFlushStartedOneBlockBeforeATakeLeavesOnlyTheLastBlockInTheCopiedLog(t *testing.T) {
	const perBlock = 1 << 20 // bytes of state written by each block
	value := bytes.Repeat([]byte{7}, 1<<10)
	take := func(t *testing.T, flushFirst bool) int64 {
		l, s, dir := snapFixture(t, Options{}, 2, 0)
		prev := genesis
		for h := uint64(1); h <= 4; h++ {
			b, ids := testBlock(h, prev, 3)
			prev = b.Hash()
			var writes []KV
			for j := range perBlock / len(value) {
				writes = append(writes, KV{Key: []byte(fmt.Sprintf("v%d-%06d", h, j)), Value: value})
			}
			if h == 4 && flushFirst {
				done, err := l.StartFlush()
				if err != nil {
					t.Fatal(err)
				}
				<-done
			}
			if err := l.Commit(b, testCommit(b), ids, writes); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Take(l.Ledger, 4, []byte("m")); err != nil {
			t.Fatal(err)
		}
		return logBytes(t, filepath.Join(dir, snapshotName(4)))
	}
	if n := take(t, false); n < 3*perBlock {
		t.Fatalf("without a flush the snapshot's log holds %d bytes, want the 4 blocks' writes (the memtable was flushed anyway: the test proves nothing)", n)
	}
	if n := take(t, true); n < perBlock || n > 2*perBlock {
		t.Fatalf("after a flush started before block 4 the snapshot's log holds %d bytes, want block 4's writes only (≈ %d)", n, perBlock)
	}
}

// A reader whose scan reads again from its callback (as a snapshot chunk
// does: the entry index, then each record) while other peers open the
// same snapshot and the node takes the next one: nothing waits on
// anything. With a read lock held through the scan, the nested read
// queued behind the writer an Open put in line, which held Snapshots'
// mutex, which Take (on the block-apply path) waited for: a remote peer's
// chunk requests stopped a validator for good.
func TestANestedReadDuringOpensAndATakeDoesNotDeadlock(t *testing.T) {
	l, s, _ := snapFixture(t, Options{}, 4, 0)
	l.commitAndTake(t, s, 1, nil)
	r, err := s.Open(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		done <- r.ScanRange([]byte("k"), nil, func(key, _ []byte) error {
			// other peers open the snapshot while this scan runs
			opened := make(chan error, 1)
			go func() {
				o, err := s.Open(1)
				if err == nil {
					o.Close()
				}
				opened <- err
			}()
			if err := <-opened; err != nil {
				return err
			}
			_, _, err := r.Get([]byte("x")) // the nested read
			return err
		})
	}()
	endsWithin(t, "a scan reading again from its callback while the snapshot was opened", done)
	l.commitTo(t, 2)
	took := make(chan error, 1)
	go func() { took <- s.Take(l.Ledger, 2, nil) }()
	endsWithin(t, "the next Take", took)
}

// endsWithin fails unless what sends a nil error on done within 20 s.
func endsWithin(t *testing.T, what string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s never ended", what)
	}
}
