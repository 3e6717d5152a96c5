package client

import (
	"testing"
	"time"

	"github.com/cocorico/node/consensus"
)

// A voter's re-vote final before its first cast makes that first cast
// superseded, not missing: the bench waits for it no longer and does not
// report it lost. A cast final before its re-vote is not superseded, and
// an accepted cast neither final nor superseded is missing.
func TestBenchCountsACastOvertakenByItsVotersReVoteAsSupersededNotMissing(t *testing.T) {
	mk := func(b byte, prev *benchCast) *benchCast {
		return &benchCast{id: consensus.Hash{b}, ok: true, prev: prev}
	}
	a1 := mk(1, nil)
	a2 := mk(2, a1) // voter a: the re-vote is final first
	b1 := mk(3, nil)
	b2 := mk(4, b1)  // voter b: in order
	c1 := mk(5, nil) // voter c: never final
	perVoter := [][]*benchCast{{a1, a2}, {b1, b2}, {c1}}
	w := &benchWindow{perVoter: perVoter, byID: map[consensus.Hash]*benchCast{}, finalAt: map[consensus.Hash]time.Time{},
		rep: &BenchReport{Accepted: 5}}
	for _, cs := range perVoter {
		for _, c := range cs {
			w.byID[c.id] = c
		}
	}
	now := time.Now()
	w.seenFinal(a2.id, now)
	w.seenFinal(b1.id, now)
	w.seenFinal(b2.id, now)
	w.seenFinal(consensus.Hash{9}, now) // not one of the bench's casts
	if !a1.superseded || b1.superseded || w.superseded != 1 {
		t.Fatalf("superseded: a1 %v (want true), b1 %v (want false), count %d (want 1)", a1.superseded, b1.superseded, w.superseded)
	}
	if w.settled() {
		t.Fatal("settled while voter c's accepted cast is neither final nor superseded")
	}
	w.report(now.Add(-time.Second), now)
	if w.rep.Final != 3 || w.rep.Superseded != 1 || len(w.rep.Missing) != 1 || w.rep.Missing[0] != c1.id {
		t.Fatalf("report: final %d, superseded %d, missing %v; want 3, 1, [c1]", w.rep.Final, w.rep.Superseded, w.rep.Missing)
	}
	w.seenFinal(c1.id, now)
	if !w.settled() {
		t.Fatal("not settled once every accepted cast is final or superseded")
	}
}
