package store

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The records queued while a batch is being synced go together in the
// next batch, and no waiter is answered before its batch is committed.
func TestRecordsQueuedDuringASyncShareTheNextBatch(t *testing.T) {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	groups := make(chan int, 16)
	hold := make(chan struct{})
	first := true
	g := openGroupCommitter(db, &diskReserve{}, func(group []*pendingRecord) {
		groups <- len(group)
		if first {
			first = false
			<-hold // the first batch is "syncing" while the others queue
		}
	})
	defer g.stop()
	answered := make(chan error, 11)
	go func() { answered <- g.commit([]byte("k00"), []byte("v")) }()
	if n := <-groups; n != 1 {
		t.Fatalf("first batch of %d records", n)
	}
	for i := range 10 {
		go func() { answered <- g.commit([]byte{'k', byte('1' + i)}, []byte("v")) }()
	}
	for deadline := time.Now().Add(10 * time.Second); len(g.queue) < 10; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d records queued", len(g.queue))
		}
	}
	select {
	case err := <-answered:
		t.Fatalf("a waiter was answered before its batch was committed: %v", err)
	default:
	}
	close(hold)
	if n := <-groups; n != 10 {
		t.Fatalf("the records queued together went in a batch of %d", n)
	}
	for range 11 {
		if err := <-answered; err != nil {
			t.Fatal(err)
		}
	}
	if _, closer, err := db.Get([]byte("k5")); err != nil {
		t.Fatalf("a record of the second batch: %v", err)
	} else {
		closer.Close()
	}
}
