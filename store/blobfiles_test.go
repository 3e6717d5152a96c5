package store

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocorico/node/consensus"
)

// commitBlocksOfCasts commits blocks from+1..from+n of casts-sized
// transactions (random bytes, as long as a cast) with a voter record
// each, and returns them.
func commitBlocksOfCasts(t *testing.T, l *Ledger, from, n uint64, prev consensus.Hash) []*consensus.Block {
	t.Helper()
	var blocks []*consensus.Block
	for h := from + 1; h <= from+n; h++ {
		txs := make([][]byte, 200)
		ids := make([]consensus.Hash, len(txs))
		writes := make([]KV, len(txs))
		for i := range txs {
			txs[i] = make([]byte, 450)
			rand.Read(txs[i])
			ids[i] = consensus.Sum(txs[i])
			writes[i] = KV{Key: append([]byte{'v'}, ids[i][:]...), Value: make([]byte, 80)}
		}
		b := &consensus.Block{Header: consensus.Header{ChainID: "c", Height: h, Time: int64(h) * 1000,
			PrevHash: prev, TxRoot: consensus.MerkleRoot(txs), TxCount: uint32(len(txs))}, Txs: txs}
		if err := l.Commit(b, testCommit(b), ids, writes); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
		prev = b.Hash()
	}
	return blocks
}

// requireBlocks fails unless l holds blocks, transaction by transaction.
func requireBlocks(t *testing.T, l *Ledger, blocks []*consensus.Block) {
	t.Helper()
	for _, b := range blocks {
		got, err := l.Block(b.Header.Height)
		if err != nil {
			t.Fatalf("block %d: %v", b.Header.Height, err)
		}
		if got.Hash() != b.Hash() || len(got.Txs) != len(b.Txs) {
			t.Fatalf("block %d read back differs", b.Header.Height)
		}
		for i := range b.Txs {
			if !bytes.Equal(got.Txs[i], b.Txs[i]) {
				t.Fatalf("block %d tx %d read back differs", b.Header.Height, i)
			}
		}
	}
}

// A block's transactions (a cast is ~450 bytes) go into blob files, and
// a compaction moves their keys down the levels without writing the
// values again: the tables hold the keys, the records and references.
func TestBlocksTransactionsGoIntoBlobFilesThatCompactionsDoNotRewrite(t *testing.T) {
	l := openTestLedger(t)
	blocks := commitBlocksOfCasts(t, l, 0, 40, genesis)
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.db.Compact(t.Context(), []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	m := l.db.Metrics()
	var compacted, blobCompacted uint64
	for _, lm := range m.Levels {
		compacted += lm.TableBytesCompacted
		blobCompacted += lm.BlobBytesCompacted - lm.BlobBytesFlushed // Pebble counts a flush's in both
	}
	txBytes := uint64(40 * 200 * 450)
	if m.BlobFiles.LiveCount == 0 || m.BlobFiles.ReferencedValueSize < txBytes {
		t.Fatalf("blob files hold %d bytes of values in %d files; the transactions are %d bytes", m.BlobFiles.ReferencedValueSize, m.BlobFiles.LiveCount, txBytes)
	}
	if compacted == 0 {
		t.Fatal("the compaction wrote no table: the test would not tell")
	}
	if blobCompacted != 0 {
		t.Fatalf("the compaction wrote %d bytes of blob files again", blobCompacted)
	}
	if compacted >= txBytes {
		t.Fatalf("the compaction wrote %d bytes of tables for %d bytes of transactions: the values went with them", compacted, txBytes)
	}
	requireBlocks(t, l, blocks)
}

// A ledger written by a build before value separation (Pebble's oldest
// format, every value in the tables) is upgraded when this build opens
// it: its blocks read back the same, and the blocks written after go
// into blob files.
func TestALedgerOfTheFormatBeforeBlobFilesIsUpgradedAtOpenAndKeepsItsBlocks(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, genesis, Options{olderFormat: true})
	if err != nil {
		t.Fatal(err)
	}
	old := commitBlocksOfCasts(t, l, 0, 5, genesis)
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if v := l.db.FormatMajorVersion(); v != pebble.FormatMinSupported {
		t.Fatalf("the older ledger is in format %v", v)
	}
	if n := l.db.Metrics().BlobFiles.LiveCount; n != 0 {
		t.Fatalf("the older ledger has %d blob files", n)
	}
	l.Close()
	l, err = Open(dir, genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v := l.db.FormatMajorVersion(); v != pebble.FormatValueSeparation {
		t.Fatalf("opened by this build, the ledger is in format %v", v)
	}
	requireBlocks(t, l, old)
	newer := commitBlocksOfCasts(t, l, 5, 5, old[len(old)-1].Hash())
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := l.db.Metrics().BlobFiles.LiveCount; n == 0 {
		t.Fatal("the blocks written after the upgrade are in no blob file")
	}
	requireBlocks(t, l, append(old, newer...))
}
