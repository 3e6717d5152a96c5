package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/cocorico/node/consensus"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A fault injected at one file operation of the ledger (docs/OPERATIONS.md
// §Start-up checks): the operation fails (a failed write, fsync, create
// or rename), or the machine loses power just before it (what was not
// synced survives in part: torn writes).
type faultKind int

const (
	failOp faultKind = iota
	powerCut
)

func (k faultKind) String() string { return [...]string{"failed op", "power cut"}[k] }

// faultFS counts the file operations once armed and injects one fault at
// operation number at.
type faultFS struct {
	mem   *vfs.MemFS
	kind  faultKind
	at    int64
	seed  int64
	armed atomic.Bool
	n     atomic.Int64
	hit   atomic.Pointer[errorfs.Op]
	cut   atomic.Pointer[vfs.MemFS] // the disk as the power cut left it
}

func (f *faultFS) MaybeError(op errorfs.Op) error {
	if !f.armed.Load() || f.n.Add(1)-1 != f.at {
		return nil
	}
	f.hit.Store(&op)
	if f.kind == powerCut {
		f.cut.Store(f.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(uint64(f.seed), 1))}))
		return nil
	}
	return errorfs.ErrInjected
}

func (f *faultFS) String() string {
	s := fmt.Sprintf("%s at op %d", f.kind, f.at)
	if op := f.hit.Load(); op != nil {
		s += fmt.Sprintf(" (%v)", *op)
	}
	return s
}

// commitUnderFault commits blocks 1..k-1 cleanly, then block k with the
// fault armed. It returns the disk after a restart, whether Commit
// reported success, and whether the fault was reached at all.
func commitUnderFault(t *testing.T, k uint64, f *faultFS) (after *vfs.MemFS, committed, reached bool) {
	t.Helper()
	fatal := make(chan string, 1)
	l, err := Open("ledger", genesis, Options{FS: errorfs.Wrap(f.mem, f), Logger: quietLogger(),
		// Pebble's Fatalf: the process stops there (this goroutine never returns).
		Fatal: func(msg string) { fatal <- msg; select {} }})
	if err != nil {
		t.Fatal(err)
	}
	commitBlocks(t, l, int(k-1))
	b, ids := testBlockAt(k)
	done := make(chan error, 1)
	f.armed.Store(true)
	go func() { done <- l.Commit(b, testCommit(b), ids, []KV{{Key: []byte{byte(k)}, Value: []byte("v")}}) }()
	select {
	case err = <-done:
		committed = err == nil
	case <-fatal:
	case <-time.After(30 * time.Second):
		t.Fatalf("%v: Commit neither returned nor stopped the process", f)
	}
	f.armed.Store(false)
	reached = f.hit.Load() != nil
	if cut := f.cut.Load(); cut != nil {
		// Whatever Commit said came after the power cut.
		return cut, false, reached
	}
	// The process stops after the fault: what was not synced may be lost.
	return f.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(uint64(f.seed), 1))}), committed, reached
}

// bigHeight is a block of 2.2 MB: more than half of Pebble's 4 MB
// memtable, it is committed as a flushable batch (a new log, a memtable
// rotation, a flush to a table and a MANIFEST edit).
const (
	bigHeight = 31
	bigTxs    = 184 // of 12 KiB
)

func testBlockAt(k uint64) (b *consensus.Block, ids []consensus.Hash) {
	prev := genesis
	for h := uint64(1); h <= k; h++ {
		b, ids = testBlock(h, prev, 20)
		if h == bigHeight {
			b.Txs = b.Txs[:0]
			for i := range bigTxs {
				b.Txs = append(b.Txs, append([]byte(fmt.Sprintf("tx %d.%d ", h, i)), bytes.Repeat([]byte{byte(i)}, 12<<10)...))
			}
			ids = ids[:0]
			for _, tx := range b.Txs {
				ids = append(ids, consensus.Sum(tx))
			}
			b.Header.TxRoot, b.Header.TxCount = consensus.MerkleRoot(b.Txs), uint32(len(b.Txs))
		}
		prev = b.Hash()
	}
	return b, ids
}

// checkWholeOrAbsent reopens the ledger after the fault: it must open,
// and block k is there with everything the batch wrote, or none of it.
func checkWholeOrAbsent(t *testing.T, disk vfs.FS, dir string, k uint64, committed bool, f fmt.Stringer) {
	t.Helper()
	l, err := Open(dir, genesis, Options{FS: disk, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("%v: reopen: %v", f, err)
	}
	defer l.Close()
	b, ids := testBlockAt(k)
	_, _, txErr := l.TxLocation(ids[len(ids)-1])
	state, found, stErr := l.Get([]byte{byte(k)})
	if stErr != nil {
		t.Fatalf("%v: state read: %v", f, stErr)
	}
	switch l.Height() {
	case k:
		got, err := l.Block(k)
		if err != nil || got.Hash() != b.Hash() {
			t.Fatalf("%v: height %d but block %d unreadable: %v", f, k, k, err)
		}
		if c, err := l.CommitAt(k); err != nil || c.BlockHash != b.Hash() {
			t.Fatalf("%v: block %d without its commit: %v", f, k, err)
		}
		if txErr != nil || !found || !bytes.Equal(state, []byte("v")) {
			t.Fatalf("%v: block %d without its index (%v) or state (%v)", f, k, txErr, found)
		}
	case k - 1:
		if committed {
			t.Fatalf("%v: Commit returned nil but block %d is gone after restart", f, k)
		}
		if !errors.Is(txErr, ErrNotFound) || found {
			t.Fatalf("%v: block %d absent but its index (%v) or state (%v) is there", f, k, txErr, found)
		}
		// The ledger goes on: the block can be committed again.
		if err := l.Commit(b, testCommit(b), ids, nil); err != nil {
			t.Fatalf("%v: commit again after restart: %v", f, err)
		}
	default:
		t.Fatalf("%v: height %d after restart, want %d or %d", f, l.Height(), k-1, k)
	}
}

// Every file operation Pebble does while committing a block (WAL write,
// fsync, a log or table file created, a MANIFEST written) is failed in
// turn, and the power is cut before it in turn: after a restart the block
// is whole or absent, and a block Commit reported durable is there. The
// operations are enumerated until an index is past the last one, so every
// point is covered, whatever their number.
func TestCommitUnderEveryFileFaultLeavesTheBlockWholeOrAbsent(t *testing.T) {
	for _, kind := range []faultKind{failOp, powerCut} {
		// Block 1 is the ledger's first; block 30 one among others; block
		// 31 a block larger than half the memtable (bigHeight).
		for _, k := range []uint64{1, 30, bigHeight} {
			if k == bigHeight && (kind == failOp || testing.Short()) {
				continue // failed ops: TestCommitOfALargeBlockUnderEveryFailedOpInAChildProcess
			}
			points := 0
			for at := int64(0); ; at++ {
				f := &faultFS{mem: vfs.NewCrashableMem(), kind: kind, at: at, seed: at}
				disk, committed, reached := commitUnderFault(t, k, f)
				if !reached {
					break
				}
				points++
				checkWholeOrAbsent(t, disk, "ledger", k, committed, f)
			}
			if points == 0 {
				t.Fatalf("%s, block %d: no file operation seen", kind, k)
			}
			t.Logf("%s while committing block %d: %d injection points, all whole or absent", kind, k, points)
		}
	}
}

// readFaults fails the read operation number at (counting reads only).
type readFaults struct {
	at  int64
	n   atomic.Int64
	hit atomic.Bool
}

func (r *readFaults) MaybeError(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() != errorfs.OpIsRead || r.n.Add(1)-1 != r.at {
		return nil
	}
	r.hit.Store(true)
	return errorfs.ErrInjected
}

func (r *readFaults) String() string { return fmt.Sprintf("read fault at read %d", r.at) }

// Every read Pebble does while opening the ledger and reading its blocks
// back (MANIFEST, log, tables) is failed in turn: the result is an error
// or the right blocks, never a panic, a fresh ledger or a wrong block.
func TestReopenUnderEveryReadFaultIsAnErrorOrTheRightBlocks(t *testing.T) {
	mem := vfs.NewMem()
	l, err := Open("ledger", genesis, Options{FS: mem, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	commitBlocks(t, l, 20)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	commitBlocks2 := func(l *Ledger) error { // 5 more blocks, in the log only
		b, _ := testBlockAt(20)
		prev := b.Hash()
		for h := uint64(21); h <= 25; h++ {
			b, ids := testBlock(h, prev, 20)
			if err := l.Commit(b, testCommit(b), ids, nil); err != nil {
				return err
			}
			prev = b.Hash()
		}
		return nil
	}
	if err := commitBlocks2(l); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want, _ := testBlockAt(25)
	points, errs := 0, 0
	for at := int64(0); ; at++ {
		r := &readFaults{at: at}
		err := readAll(errorfs.Wrap(mem, r), want.Hash())
		if !r.hit.Load() {
			if err != nil {
				t.Fatalf("no fault injected, still: %v", err)
			}
			break
		}
		points++
		if err != nil && strings.Contains(err.Error(), "WRONG") {
			t.Fatalf("%v: %v", r, err)
		}
		if err != nil {
			errs++
		}
	}
	t.Logf("%d read injection points: %d errors, %d right answers", points, errs, points-errs)
}

// readAll opens the ledger and reads every block; a wrong height or
// block is a test failure, an error is returned.
func readAll(fs vfs.FS, tip consensus.Hash) error {
	l, err := Open("ledger", genesis, Options{FS: fs, Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer l.Close()
	if l.Height() != 25 {
		return fmt.Errorf("WRONG height %d", l.Height())
	}
	prev := genesis
	for h := uint64(1); h <= 25; h++ {
		b, err := l.Block(h)
		if err != nil {
			return err
		}
		if b.Header.PrevHash != prev {
			return fmt.Errorf("WRONG block %d", h)
		}
		prev = b.Hash()
	}
	if prev != tip {
		return errors.New("WRONG tip")
	}
	return nil
}

// A failed operation while Pebble rotates its log (a large block) is a
// panic inside Pebble (rotateWAL: "no way to recover"), and the unwinding
// then aborts the Go runtime: the process dies there. So each failed
// operation of the large block's commit runs in a child process on a real
// folder; after the child ends, by return, by the Fatal hook or by a
// crash, the ledger reopens with the block whole or absent.
func TestCommitOfALargeBlockUnderEveryFailedOpInAChildProcess(t *testing.T) {
	if dir := os.Getenv("COCORICO_FAULT_CHILD_DIR"); dir != "" {
		at, _ := strconv.ParseInt(os.Getenv("COCORICO_FAULT_CHILD_AT"), 10, 64)
		commitInChild(dir, at)
		return
	}
	if testing.Short() {
		t.Skip("one child process per injection point")
	}
	points := 0
	ends := map[string]int{} // how the child ended
	for at := int64(0); ; at++ {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCommitOfALargeBlockUnderEveryFailedOpInAChildProcess$")
		cmd.Env = append(os.Environ(), "COCORICO_FAULT_CHILD_DIR="+dir, fmt.Sprintf("COCORICO_FAULT_CHILD_AT=%d", at))
		out, err := cmd.CombinedOutput()
		said := string(out)
		if strings.Contains(said, "setup failed") {
			t.Fatalf("child: %s", said)
		}
		if !strings.Contains(said, "fault reached") {
			if !strings.Contains(said, "committed") {
				t.Fatalf("no fault injected at %d, and the child did not commit: %v\n%s", at, err, said)
			}
			break
		}
		points++
		switch code := cmd.ProcessState.ExitCode(); code {
		case 0:
			ends["Commit returned"]++
		case 3:
			ends["Pebble's Fatalf (Options.Fatal)"]++
		default:
			ends[fmt.Sprintf("crash, status %d", code)]++
		}
		what := fmt.Sprintf("failed op %d (%s)", at, firstLine(said, "fault reached"))
		checkWholeOrAbsent(t, vfs.Default, dir, bigHeight, strings.Contains(said, "committed"), stringer(what))
	}
	if points == 0 {
		t.Fatal("no file operation seen")
	}
	t.Logf("failed op while committing a %d-tx block: %d injection points, all whole or absent; the child ended by %v",
		bigTxs, points, ends)
}

type stringer string

func (s stringer) String() string { return string(s) }

func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// commitInChild is the child's side: blocks 1..bigHeight-1 cleanly, then
// the large block with operation at failed. It prints what happened.
func commitInChild(dir string, at int64) {
	var n atomic.Int64
	var armed atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !armed.Load() || n.Add(1)-1 != at {
			return nil
		}
		fmt.Printf("fault reached: %v\n", op)
		return errorfs.ErrInjected
	})
	l, err := Open(dir, genesis, Options{FS: errorfs.Wrap(vfs.Default, inj), Logger: quietLogger(),
		Fatal: func(msg string) { fmt.Printf("fatal: %s\n", msg); os.Exit(3) }})
	if err != nil {
		fmt.Println("setup failed:", err)
		os.Exit(1)
	}
	prev := genesis
	for h := uint64(1); h < bigHeight; h++ {
		b, ids := testBlock(h, prev, 20)
		if err := l.Commit(b, testCommit(b), ids, []KV{{Key: []byte{byte(h)}, Value: []byte("v")}}); err != nil {
			fmt.Println("setup failed:", err)
			os.Exit(1)
		}
		prev = b.Hash()
	}
	b, ids := testBlockAt(bigHeight)
	armed.Store(true)
	err = l.Commit(b, testCommit(b), ids, []KV{{Key: []byte{byte(bigHeight)}, Value: []byte("v")}})
	armed.Store(false)
	if err == nil {
		fmt.Println("committed")
	} else {
		fmt.Println("commit error:", err)
	}
	os.Exit(0) // no Close: the process ends here
}
