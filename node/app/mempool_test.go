package app

import (
	"bytes"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// Stale hands out what has waited since before the cutoff, oldest first,
// at most max, and each of them only once per wait: it counts as fresh
// again after being handed out. The proposal order is left as it was.
func TestStaleTransactionsAreHandedOutOncePerWaitOldestFirst(t *testing.T) {
	m := NewMempool(100, 1<<20, false)
	for i := range 3 {
		if err := m.Add(&ballot.Checked{ID: consensus.Hash{byte(i + 1)}, Bytes: []byte{byte('a' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Stale(time.Now().Add(-time.Hour), 10); len(got) != 0 {
		t.Fatalf("%d stale among transactions added just now", len(got))
	}
	before := time.Now()
	got := m.Stale(time.Now().Add(time.Hour), 2)
	if len(got) != 2 || !bytes.Equal(got[0], []byte("a")) || !bytes.Equal(got[1], []byte("b")) {
		t.Fatalf("first round %q, want the two oldest [a b]", got)
	}
	got = m.Stale(before, 10)
	if len(got) != 1 || !bytes.Equal(got[0], []byte("c")) {
		t.Fatalf("second round %q, want only [c]: a and b were just handed out", got)
	}
	reaped := m.Reap(10, 1<<20)
	for i, want := range []string{"a", "b", "c"} {
		if string(reaped[i].Bytes) != want {
			t.Fatalf("proposal order changed: %d is %q", i, reaped[i].Bytes)
		}
	}
}
