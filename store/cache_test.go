package store

import (
	"context"
	"fmt"
	"testing"
)

// TestLedgersOpenedWithOneCacheShareItAndOutliveItsCreator: two ledgers
// opened with one Cache fill the same block cache (what one reads from
// its tables, the other's cache metrics and Memory count), and closing the Cache,
// then one ledger, leaves the other reading and writing.
func TestLedgersOpenedWithOneCacheShareItAndOutliveItsCreator(t *testing.T) {
	cache := NewCache(8 << 20)
	a, err := Open(t.TempDir(), genesis, Options{Cache: cache, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(t.TempDir(), genesis, Options{Cache: cache, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	cache.Close()
	cache.Close() // again: nothing
	defer b.Close()

	blk, ids := testBlock(1, genesis, 3)
	w := thousandWrites()
	if err := a.Commit(blk, testCommit(blk), ids, w); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(); err != nil { // into a table, read through the cache
		t.Fatal(err)
	}
	if n := b.db.Metrics().BlockCache.Count; n != 0 {
		t.Fatalf("the cache holds %d blocks before any table is read", n)
	}
	if m := a.Memory(); m.CacheBytes != 0 || m.MemTableBytes == 0 {
		t.Fatalf("before any read, a's memory is %+v: want an empty cache and its memtable", m)
	}
	for i := range w {
		if _, found, err := a.Get(w[i].Key); err != nil || !found {
			t.Fatalf("get %s: %v %v", w[i].Key, found, err)
		}
	}
	if n := b.db.Metrics().BlockCache.Count; n == 0 {
		t.Fatal("b's cache holds none of the blocks a read: they do not share it")
	}
	if m := b.Memory(); m.CacheBytes == 0 {
		t.Fatalf("b's Memory counts none of the shared cache a filled: %+v", m)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	blk2, ids2 := testBlock(1, genesis, 2)
	if err := b.Commit(blk2, testCommit(blk2), ids2, w); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, found, err := b.Get([]byte("r0999")); err != nil || !found {
		t.Fatalf("b after a and the cache's creator closed: %v %v", found, err)
	}
}

// TestWritesCountTheBatchesAndTheTablesHoldingThem: a committed block's
// batch is counted when it is committed, the table holding it when the
// memtable is flushed, and compacting the tables counts them again.
func TestWritesCountTheBatchesAndTheTablesHoldingThem(t *testing.T) {
	l, err := Open(t.TempDir(), genesis, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := l.Writes()
	blk, ids := testBlock(1, genesis, 3)
	w := thousandWrites()
	if err := l.Commit(blk, testCommit(blk), ids, w); err != nil {
		t.Fatal(err)
	}
	committed := l.Writes()
	if got := committed.Batches - start.Batches; got < 100_000 {
		t.Fatalf("a batch of 1,000 writes of 100 bytes counted %d bytes", got)
	}
	if committed.Tables != start.Tables {
		t.Fatalf("tables written before any flush: %d bytes", committed.Tables-start.Tables)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	flushed := l.Writes()
	if flushed.Tables == committed.Tables {
		t.Fatal("the flush wrote a table, Writes counted none")
	}
	// A second table over the same keys: compacting merges the two (a
	// lone table would only move down, unwritten).
	blk2, ids2 := testBlock(2, blk.Hash(), 3)
	if err := l.Commit(blk2, testCommit(blk2), ids2, w); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	flushed = l.Writes()
	if err := l.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		t.Fatal(err)
	}
	if after := l.Writes(); after.Tables <= flushed.Tables || after.Batches != flushed.Batches {
		t.Fatalf("after a compaction %+v, after the flush %+v: want more table bytes, the same batches", after, flushed)
	}
}

// thousandWrites are state writes of 100 bytes to 1,000 keys.
func thousandWrites() []KV {
	w := make([]KV, 1000)
	for i := range w {
		w[i] = KV{Key: []byte(fmt.Sprintf("r%04d", i)), Value: make([]byte, 100)}
	}
	return w
}
