package store

import (
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
	w := make([]KV, 1000)
	for i := range w {
		w[i] = KV{Key: []byte(fmt.Sprintf("r%04d", i)), Value: make([]byte, 100)}
	}
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
