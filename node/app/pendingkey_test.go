package app

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
)

// A cast the mempool would refuse for its key's pending casts is refused
// before its signatures are checked (those answers are free to the
// sender, so they must cost the node nothing): with a re-vote interval,
// any cast of a key that has one pending (revote_too_soon); without, a
// cast of a seq already pending (seq_replay). The casts sent have broken
// signatures: checked, they would be refused for that.
func TestACastRefusedForItsKeysPendingCastIsRefusedBeforeItsSignatures(t *testing.T) {
	for _, c := range []struct {
		name     string
		interval int64
		seq      uint64
		want     error
	}{
		{"re-vote interval, a later seq", 2000, 2, ballot.ErrRevoteTooSoon},
		{"no interval, the same seq", 0, 1, ballot.ErrSeqReplay},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newAppFixtureWith(t, "", c.interval)
			f.defineBallot(t)
			v := f.e.NewVoter()
			if err := f.submit(t, &ballot.Tx{Cast: f.e.Cast(v, 1, 0)}); err != nil {
				t.Fatal(err)
			}
			forged := f.e.Cast(v, c.seq, 2)
			forged.Signature[0] ^= 1
			if err := f.submit(t, &ballot.Tx{Cast: forged}); !errors.Is(err, c.want) {
				t.Fatalf("a badly signed cast of a key with a cast pending: %v, want %v before any signature check", err, c.want)
			}
		})
	}
}

// A cast checked against the state before a block that makes it stale (a
// later seq of its key final) is applied, while its signatures wait for a
// verifier, is refused (seq_replay) and stays out of the mempool: the
// mempool's update after that block could not drop a cast not in it yet,
// and it stayed there, re-sent and refused by every peer, forever.
func TestACastMadeStaleByABlockAppliedDuringItsCheckStaysOutOfTheMempool(t *testing.T) {
	f := newAppFixtureWith(t, "", 0)
	f.defineBallot(t)
	v := f.e.NewVoter()
	stale, later := f.e.Cast(v, 2, 0), f.e.Cast(v, 3, 1)
	release := f.holdTheOneVerifier()
	prechecked := make(chan struct{})
	var once sync.Once
	f.app.afterPrecheck = func() { once.Do(func() { close(prechecked) }) }
	done := make(chan []error)
	go func() {
		_, errs := f.app.SubmitMany(context.Background(), [][]byte{(&ballot.Tx{Cast: stale}).Encode()})
		done <- errs
	}()
	<-prechecked
	if err := f.app.pool.Add(ballottest.Checked(later)); err != nil {
		t.Fatal(err)
	}
	if b := f.commitNext(t); len(b.Txs) != 1 {
		t.Fatalf("the block of seq 3 holds %d transactions", len(b.Txs))
	}
	release()
	if errs := <-done; !errors.Is(errs[0], ballot.ErrSeqReplay) {
		t.Fatalf("seq 2, checked before seq 3 was final and added after: %v, want seq_replay", errs[0])
	}
	if n := f.app.pool.Len(); n != 0 {
		t.Fatalf("%d transactions left in the mempool, want none (seq 2 is stale)", n)
	}
}
