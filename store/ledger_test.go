package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cocorico/node/consensus"
)

// openTestLedger opens a ledger in a fresh folder, closed at the test's end.
func openTestLedger(t *testing.T) *Ledger {
	t.Helper()
	l, err := Open(t.TempDir(), genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func testBlock(height uint64, prev consensus.Hash, n int) (*consensus.Block, []consensus.Hash) {
	txs := make([][]byte, n)
	ids := make([]consensus.Hash, n)
	for i := range txs {
		txs[i] = []byte(fmt.Sprintf("tx %d.%d", height, i))
		ids[i] = consensus.Sum(txs[i])
	}
	b := &consensus.Block{Header: consensus.Header{ChainID: "c", Height: height, Time: int64(height) * 1000,
		PrevHash: prev, TxRoot: consensus.MerkleRoot(txs), TxCount: uint32(n)}, Txs: txs}
	return b, ids
}

// The transaction index is written in id order (the memtable takes it
// faster so), not in block order: every transaction of a block is still
// found by its id at its own place.
func TestEveryTransactionOfABlockIsFoundByItsIDAtItsPlace(t *testing.T) {
	l := openTestLedger(t)
	b, ids := testBlock(1, genesis, 64)
	if slices.IsSortedFunc(ids, func(x, y consensus.Hash) int { return bytes.Compare(x[:], y[:]) }) {
		t.Fatal("the test block's ids are in id order already: the test would not tell")
	}
	if err := l.Commit(b, testCommit(b), ids, nil); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		h, at, err := l.TxLocation(id)
		if err != nil || h != 1 || at != i {
			t.Fatalf("tx %d found at %d/%d: %v", i, h, at, err)
		}
		if tx, err := l.Tx(1, at); err != nil || !bytes.Equal(tx, b.Txs[i]) {
			t.Fatalf("tx %d at its place: %v", i, err)
		}
	}
}

func testCommit(b *consensus.Block) *consensus.Commit {
	return &consensus.Commit{Height: b.Header.Height, BlockHash: b.Hash(),
		Signatures: []consensus.CommitSig{{Validator: 0, Signature: make([]byte, 64)}}}
}

var genesis = consensus.Sum([]byte("genesis"))

func TestLedgerKeepsBlocksCommitsIndexAndStateAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	prev := genesis
	for h := uint64(1); h <= 3; h++ {
		b, ids := testBlock(h, prev, int(h))
		w := []KV{{Key: []byte(fmt.Sprintf("r%d", h)), Value: []byte{byte(h)}}}
		if err := l.Commit(b, testCommit(b), ids, w); err != nil {
			t.Fatal(err)
		}
		prev = b.Hash()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = Open(dir, genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Height() != 3 {
		t.Fatalf("height %d after reopen, want 3", l.Height())
	}
	b, err := l.Block(3)
	if err != nil || b.Hash() != prev || len(b.Txs) != 3 {
		t.Fatalf("block 3: %v", err)
	}
	if c, err := l.CommitAt(3); err != nil || c.BlockHash != prev {
		t.Fatalf("commit 3: %v", err)
	}
	if h, err := l.Header(2); err != nil || h.Height != 2 {
		t.Fatalf("header 2: %v", err)
	}
	h, i, err := l.TxLocation(consensus.Sum([]byte("tx 3.2")))
	if err != nil || h != 3 || i != 2 {
		t.Fatalf("tx location %d/%d: %v", h, i, err)
	}
	var keys []string
	if err := l.Scan([]byte("r"), func(k, v []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[r1 r2 r3]" {
		t.Fatalf("scan %v", keys)
	}
	keys = nil
	if err := l.ScanAfter([]byte("r"), []byte("1"), func(k, v []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[r2 r3]" {
		t.Fatalf("scan after r1: %v", keys)
	}
	if v, found, err := l.Get([]byte("r2")); err != nil || !found || v[0] != 2 {
		t.Fatalf("get r2: %v %v %v", v, found, err)
	}
}

func TestLedgerOfAnotherChainIsRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := Open(dir, consensus.Sum([]byte("other")), Options{}); !errors.Is(err, ErrOtherChain) {
		t.Fatalf("got %v, want ErrOtherChain", err)
	}
}

func TestBlocksMustBeCommittedInOrder(t *testing.T) {
	l := openTestLedger(t)
	b, ids := testBlock(2, genesis, 1)
	if err := l.Commit(b, testCommit(b), ids, nil); !errors.Is(err, ErrNotNext) {
		t.Fatalf("got %v, want ErrNotNext", err)
	}
	if l.Height() != 0 {
		t.Fatal("a refused block moved the height")
	}
}

// Block sync serves BlockBytes: it must be the very bytes of the block
// decoded and encoded again, empty blocks and big ones included.
func TestBlockBytesAreTheStoredBlocksEncoding(t *testing.T) {
	l := openTestLedger(t)
	prev := genesis
	for h, n := range []int{0, 1, 24, 300} {
		b, ids := testBlock(uint64(h+1), prev, n)
		if n == 300 { // transactions bigger than BlockBytes first allows
			for i := range b.Txs {
				b.Txs[i] = append(b.Txs[i], make([]byte, 1000)...)
				ids[i] = consensus.Sum(b.Txs[i])
			}
			b.Header.TxRoot = consensus.MerkleRoot(b.Txs)
		}
		if err := l.Commit(b, testCommit(b), ids, nil); err != nil {
			t.Fatal(err)
		}
		prev = b.Hash()
		got, err := l.BlockBytes(uint64(h + 1))
		if err != nil {
			t.Fatal(err)
		}
		read, err := l.Block(uint64(h + 1))
		if err != nil {
			t.Fatal(err)
		}
		if want := read.Encode(); !bytes.Equal(got, want) || !bytes.Equal(got, b.Encode()) {
			t.Fatalf("block %d of %d txs: BlockBytes gives %d bytes, not the block's %d", h+1, n, len(got), len(want))
		}
	}
	if _, err := l.BlockBytes(5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a block above the height: %v", err)
	}
}

func TestMissingRecordsAreNotFound(t *testing.T) {
	l := openTestLedger(t)
	if _, err := l.Block(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("block: %v", err)
	}
	if _, _, err := l.TxLocation(genesis); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tx: %v", err)
	}
	if _, found, err := l.Get([]byte("nothing")); found || err != nil {
		t.Fatalf("get: %v %v", found, err)
	}
}

// A scratch ledger (Options.Scratch) writes no write-ahead log: its
// writes are read back, and its log files hold a few bytes of their
// own, where a ledger's hold what it wrote.
func TestAScratchLedgerWritesNoLog(t *testing.T) {
	for _, scratch := range []bool{false, true} {
		dir := t.TempDir()
		l, err := Open(dir, genesis, Options{Scratch: scratch, NoSync: true, ReserveBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		value := make([]byte, 1<<20)
		if err := l.PutState([]KV{{Key: []byte("k"), Value: value}}); err != nil {
			t.Fatal(err)
		}
		if v, found, err := l.Get([]byte("k")); err != nil || !found || len(v) != len(value) {
			t.Fatalf("scratch %v: read back %d bytes, %v %v", scratch, len(v), found, err)
		}
		l.Close()
		names, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var logged int64
		for _, n := range names {
			if fi, err := n.Info(); err == nil && strings.HasSuffix(n.Name(), ".log") {
				logged += fi.Size()
			}
		}
		if scratch && logged > 4096 || !scratch && logged < int64(len(value)) { // (a closed log has a few bytes of its own)
			t.Fatalf("scratch %v: %d bytes in its log files after a write of %d", scratch, logged, len(value))
		}
	}
}
