package app

import (
	"bytes"
	"errors"
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

// A voter key may have several casts pending when the chain allows re-voting
// at once (seqs 1, 2, 3): a seq taken by a pending cast is refused, a final
// cast drops the key's pending casts up to its seq and keeps the later one,
// and once the last one leaves the key is forgotten (a new seq 1 is taken).
func TestAFinalCastDropsItsVoterKeysPendingCastsUpToItsSeqOnly(t *testing.T) {
	m := NewMempool(100, 1<<20, false)
	b := consensus.Hash{9}
	voter := bytes.Repeat([]byte{7}, 32)
	cast := func(seq uint64) *ballot.Checked {
		return &ballot.Checked{ID: consensus.Hash{byte(seq)}, Bytes: []byte{byte(seq)},
			Cast: &ballot.Cast{BallotID: b, Voter: voter, Seq: seq}}
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := m.Add(cast(seq)); err != nil {
			t.Fatal(err)
		}
	}
	other := cast(2)
	other.ID = consensus.Hash{42}
	if err := m.Add(other); !errors.Is(err, ballot.ErrSeqReplay) {
		t.Fatalf("a second pending cast with seq 2: %v, want ErrSeqReplay", err)
	}
	slot := ballot.VoterSlot{Ballot: b, Voter: cast(1).Cast.Key()}
	dropped := m.Update(nil, &ballot.Update{Voters: map[ballot.VoterSlot]ballot.VoterRecord{slot: {Seq: 2}}}, nil)
	if dropped != 2 || m.Len() != 1 || m.PendingCasts(b) != 1 {
		t.Fatalf("after a final seq 2: dropped %d, %d pending (%d casts), want 2 dropped and seq 3 left", dropped, m.Len(), m.PendingCasts(b))
	}
	if _, ok := m.Get(consensus.Hash{3}); !ok {
		t.Fatal("seq 3 was dropped by a final seq 2")
	}
	if err := m.Add(cast(2)); err != nil {
		t.Fatalf("seq 2 is no longer pending, the mempool must take it (the state refuses it later): %v", err)
	}
	m.Remove([]consensus.Hash{{2}, {3}})
	if m.Len() != 0 || len(m.bySlot) != 0 {
		t.Fatalf("%d pending, %d voter keys remembered after every cast left", m.Len(), len(m.bySlot))
	}
	if err := m.Add(cast(1)); err != nil {
		t.Fatal(err)
	}
}
