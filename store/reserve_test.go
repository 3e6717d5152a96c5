package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// fakeFullDisk is a fake full disk over the real file system: once
// armed, the operation number at that takes room (creating, writing,
// linking or renaming a file), and every later one, fails with ENOSPC,
// until the ledger removes its reserve file, which frees the room the
// reserve held. (Not syncs: ext4 and xfs reserve a write's blocks when the
// write is made, so a full disk is a failed write, not a failed fsync;
// after a failed fsync nothing can be retried, Pebble included.)
type fakeFullDisk struct {
	at      int64
	n       atomic.Int64
	armed   atomic.Bool
	reached atomic.Bool
}

func (d *fakeFullDisk) MaybeError(op errorfs.Op) error {
	if op.Kind == errorfs.OpRemove && filepath.Base(op.Path) == reserveName {
		d.armed.Store(false)
		return nil
	}
	switch op.Kind {
	case errorfs.OpCreate, errorfs.OpLink, errorfs.OpRename, errorfs.OpReuseForWrite, errorfs.OpMkdirAll,
		errorfs.OpFileWrite, errorfs.OpFileWriteAt:
	default:
		return nil
	}
	if !d.armed.Load() || d.n.Add(1)-1 < d.at {
		return nil
	}
	d.reached.Store(true)
	return syscall.ENOSPC
}

func (d *fakeFullDisk) String() string { return fmt.Sprintf("disk full from write %d", d.at) }

// A disk that fills at any write of a large block's commit (a new log, a
// memtable rotation, a flush: where Pebble panics on a failed write) lets
// that commit complete from the reserve, stops the node through Fatal with
// "no space left on device", and refuses the next block; reopened on a
// disk still full, the ledger is refused with the free space named; with
// room again, it opens at the block, its reserve allocated again.
func TestAFullDiskReleasesTheReserveStopsCleanlyAndKeepsTheBlockOnAFakeFullDisk(t *testing.T) {
	points := 0
	for at := int64(0); ; at++ {
		dir := t.TempDir()
		disk := &fakeFullDisk{at: at}
		fatal := make(chan string, 2)
		opts := Options{FS: errorfs.Wrap(vfs.Default, disk), Logger: quietLogger(), MemTableBytes: 4 << 20,
			ReserveBytes: 8 << 20, Fatal: func(msg string) { fatal <- msg }}
		l, err := Open(dir, genesis, opts)
		if err != nil {
			t.Fatal(err)
		}
		prev := genesis
		for h := uint64(1); h < bigHeight; h++ {
			b, ids := testBlock(h, prev, 20)
			if err := l.Commit(b, testCommit(b), ids, nil); err != nil {
				t.Fatal(err)
			}
			prev = b.Hash()
		}
		big, ids := testBlockAt(bigHeight)
		disk.armed.Store(true)
		err = l.Commit(big, testCommit(big), ids, nil)
		disk.armed.Store(false)
		if !disk.reached.Load() {
			l.Close()
			break // every write of the commit has had its turn
		}
		points++
		if err != nil {
			t.Fatalf("%v: the commit failed although the reserve was there: %v", disk, err)
		}
		msg := <-fatal
		if !strings.Contains(msg, "no space left on device") || !strings.Contains(msg, "free some space") {
			t.Fatalf("%v: Fatal said %q", disk, msg)
		}
		if _, err := os.Stat(filepath.Join(dir, reserveName)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v: the reserve is still there: %v", disk, err)
		}
		next, nids := testBlock(bigHeight+1, big.Hash(), 1)
		if err := l.Commit(next, testCommit(next), nids, nil); !errors.Is(err, ErrDiskFull) {
			t.Fatalf("%v: a block after the disk filled: %v, want ErrDiskFull", disk, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}

		// Still full: the reserve cannot be allocated again.
		still := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
			if op.Kind == errorfs.OpFilePreallocate {
				return syscall.ENOSPC
			}
			return nil
		}))
		if _, err := Open(dir, genesis, Options{FS: still, Logger: quietLogger(), ReserveBytes: 8 << 20}); !errors.Is(err, ErrDiskFull) ||
			!strings.Contains(err.Error(), "MiB free in") {
			t.Fatalf("%v: reopened on a full disk: %v, want ErrDiskFull naming the free space", disk, err)
		}

		l, err = Open(dir, genesis, Options{Logger: quietLogger(), ReserveBytes: 8 << 20})
		if err != nil {
			t.Fatalf("%v: reopened with room: %v", disk, err)
		}
		if l.Height() != bigHeight {
			t.Fatalf("%v: height %d after reopening, want %d", disk, l.Height(), bigHeight)
		}
		got, err := l.Block(bigHeight)
		if err != nil || got.Hash() != big.Hash() {
			t.Fatalf("%v: block %d after reopening: %v", disk, bigHeight, err)
		}
		l.Close()
		if _, err := os.Stat(filepath.Join(dir, reserveName)); err != nil {
			t.Fatalf("%v: no reserve after reopening: %v", disk, err)
		}
	}
	if points < 5 {
		t.Fatalf("only %d write operations in a large block's commit", points)
	}
	t.Logf("disk full at each of %d writes of a %d-tx block's commit: committed from the reserve, stopped cleanly", points, bigTxs)
}

// On a real disk the reserve is allocated space, not an empty name: the
// file's blocks hold ReserveBytes (unless the file system cannot
// allocate ahead, where the ledger warns and keeps none).
func TestTheReserveHoldsRealSpaceOnTheDisk(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, genesis, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.reserve.path == "" {
		t.Skip("this file system does not allocate ahead (fallocate): no reserve")
	}
	fi, err := os.Stat(filepath.Join(dir, reserveName))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Sys().(*syscall.Stat_t).Blocks * 512; got < DefaultReserveBytes {
		t.Fatalf("the reserve holds %d bytes of disk, want %d", got, DefaultReserveBytes)
	}
}

// The registrar's registry keeps a reserve too: a disk that fills while
// an issuance record is written lets that record be synced (the voter's
// blind signature is not lost), stops the process through fatal, refuses
// the next issuance, and the record is there when the registry is opened
// again.
func TestAFullDiskDuringAnIssuanceKeepsTheRecordAndStopsTheRegistrarOnAFakeFullDisk(t *testing.T) {
	ballot := genesis
	record := func(voter string) func([]byte) ([]byte, error) {
		return func([]byte) ([]byte, error) { return []byte("record of " + voter), nil }
	}
	points := 0
	for at := int64(0); ; at++ {
		dir := t.TempDir()
		disk := &fakeFullDisk{at: at}
		fatal := make(chan string, 2)
		r, err := openRegistry(dir, quietLogger(), errorfs.Wrap(vfs.Default, disk), 8<<20, func(msg string) { fatal <- msg })
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Issue(ballot, "before", record("before")); err != nil {
			t.Fatal(err)
		}
		disk.armed.Store(true)
		err = r.Issue(ballot, "when-full", record("when-full"))
		disk.armed.Store(false)
		if !disk.reached.Load() {
			r.Close()
			break
		}
		points++
		if err != nil {
			t.Fatalf("%v: the issuance failed although the reserve was there: %v", disk, err)
		}
		if msg := <-fatal; !strings.Contains(msg, "registry disk full: no space left on device") {
			t.Fatalf("%v: fatal said %q", disk, msg)
		}
		if err := r.Issue(ballot, "after", record("after")); !errors.Is(err, ErrDiskFull) {
			t.Fatalf("%v: an issuance after the disk filled: %v, want ErrDiskFull", disk, err)
		}
		r.Close()
		r, err = OpenRegistry(dir, quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		if n := r.Issued(ballot); n != 2 {
			t.Fatalf("%v: %d issuance records after reopening, want 2 (before, when-full)", disk, n)
		}
		r.Close()
	}
	if points == 0 {
		t.Fatal("no write in an issuance")
	}
	t.Logf("disk full at each of %d writes of an issuance: synced from the reserve, stopped cleanly", points)
}

// A disk with room for the reserve and little else (it filled, the
// reserve went, nothing was freed) is refused at start, naming the free
// space, instead of starting a node that fills it again at once and
// stops; with a quarter of the reserve free besides it, the ledger opens.
func TestALedgerWithRoomForItsReserveOnlyIsRefusedOnAFakeDiskUsage(t *testing.T) {
	disk := vfs.NewMem() // its Preallocate allocates nothing; its free space is what the test sets
	dir := "ledger"
	disk.TestingSetDiskUsage(vfs.DiskUsage{AvailBytes: 1 << 20})
	_, err := Open(dir, genesis, Options{FS: disk, Logger: quietLogger(), ReserveBytes: 8 << 20})
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "1.0 MiB free in") || !strings.Contains(err.Error(), "besides the 8 MiB") {
		t.Fatalf("1 MiB free besides an 8 MiB reserve: %v, want ErrDiskFull naming both", err)
	}
	disk.TestingSetDiskUsage(vfs.DiskUsage{AvailBytes: 2 << 20})
	l, err := Open(dir, genesis, Options{FS: disk, Logger: quietLogger(), ReserveBytes: 8 << 20})
	if err != nil {
		t.Fatalf("2 MiB free besides an 8 MiB reserve: %v", err)
	}
	l.Close()
}
