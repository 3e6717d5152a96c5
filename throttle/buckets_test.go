package throttle

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// A key's bucket gives burst tokens, then one every period: TryTake takes
// one only while there is one and otherwise says how long to wait; Take
// takes one regardless, and the wait grows; another key is untouched.
func TestBucketsGiveTheBurstThenOnePerPeriod(t *testing.T) {
	b := NewBuckets(2, 10*time.Second, 16)
	for i := range 2 {
		if w := b.TryTake("a", t0); w != 0 {
			t.Fatalf("token %d of the burst: wait %v", i, w)
		}
	}
	if w := b.TryTake("a", t0); w != 10*time.Second {
		t.Fatalf("past the burst: wait %v, want 10s", w)
	}
	if w := b.Wait("a", t0); w != 10*time.Second {
		t.Fatalf("a refused TryTake took a token: wait %v, want still 10s", w)
	}
	if w := b.Take("a", t0); w != 20*time.Second {
		t.Fatalf("a Take past the burst: wait %v, want 20s", w)
	}
	if w := b.TryTake("b", t0); w != 0 {
		t.Fatalf("another key: wait %v", w)
	}
	if w := b.TryTake("a", t0.Add(20*time.Second)); w != 0 {
		t.Fatalf("20 s later: wait %v, want a token", w)
	}
}

// TakeN takes n tokens at once, down below zero: the wait is for the
// tokens owed and one more; a key forgotten by a full table starts full.
func TestTakeNOwesTokensAndAForgottenKeyStartsFull(t *testing.T) {
	b := NewBuckets(4, time.Second, 2)
	if w := b.TakeN("a", 4, t0); w != time.Second {
		t.Fatalf("the burst taken at once: wait %v, want 1s", w)
	}
	if w := b.TakeN("a", 3, t0); w != 4*time.Second {
		t.Fatalf("3 more owed: wait %v, want 4s", w)
	}
	if w := b.Wait("a", t0.Add(4*time.Second)); w != 0 {
		t.Fatalf("4 s later: wait %v, want a token", w)
	}
	b.Take("b", t0)
	b.Take("c", t0) // the table holds 2: "a" is forgotten
	if b.Len() != 2 {
		t.Fatalf("%d keys remembered, want 2", b.Len())
	}
	if w := b.TakeN("a", 4, t0); w != time.Second {
		t.Fatalf("a forgotten key: wait %v after its burst, want 1s (started full)", w)
	}
}
