package app

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

func TestVerifiersRunNoMoreThanTheirSlotsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := NewVerifiers(2)
		gate := make(chan struct{})
		var running, ran atomic.Int32
		for range 8 {
			go v.do(context.Background(), nil, func() {
				running.Add(1)
				<-gate
				running.Add(-1)
				ran.Add(1)
			})
		}
		synctest.Wait()
		if n := running.Load(); n != 2 {
			t.Fatalf("%d checks running at once with 2 slots", n)
		}
		close(gate)
		synctest.Wait()
		if n := ran.Load(); n != 8 {
			t.Fatalf("%d of 8 checks ran once the slots were free", n)
		}
	})
}

func TestVerifiersGiveUpWithTheContextWithoutRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := NewVerifiers(1)
		gate := make(chan struct{})
		go v.do(context.Background(), nil, func() { <-gate })
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ran := false
		if _, err := v.do(ctx, nil, func() { ran = true }); !errors.Is(err, context.DeadlineExceeded) || ran {
			t.Fatalf("waiting for a busy slot past the deadline: err %v, ran %v", err, ran)
		}
		close(gate)
	})
}

// holdTheOneVerifier gives the app one verifier slot and takes it until
// release is called.
func (f *appFixture) holdTheOneVerifier() (release func()) {
	f.app.verifiers = NewVerifiers(1)
	busy, done := make(chan struct{}), make(chan struct{})
	go f.app.verifiers.do(context.Background(), nil, func() { close(busy); <-done })
	<-busy
	return func() { close(done) }
}

// A cast from a client or a peer waits for a free slot; a proposed block
// carrying a cast this node never saw is checked at once, slot or not, so
// that consensus never waits behind the mempool's queue.
func TestSubmittedCastsWaitForAVerifierSlotButProposedBlocksDoNot(t *testing.T) {
	f := newAppFixture(t, "")
	ctx := context.Background()
	f.defineBallot(t)
	unseen := (&ballot.Tx{Cast: f.e.Cast(f.e.NewVoter(), 1, 0)}).Encode()
	if _, err := f.app.Submit(ctx, unseen); err != nil {
		t.Fatal(err)
	}
	h, _, _ := f.app.Tip()
	f.now = f.now.Add(time.Second)
	b, err := f.app.ProposeBlock(ctx, h+1, 0, f.now)
	if err != nil {
		t.Fatal(err)
	}
	// Forget the cast, as a validator that only sees the proposal would.
	f.app.pool.Remove([]consensus.Hash{ballot.TxID(unseen)})
	f.app.mu.Lock()
	clear(f.app.validated)
	f.app.mu.Unlock()

	release := f.holdTheOneVerifier()
	defer release()

	if err := f.app.ValidateBlock(ctx, b); err != nil {
		t.Fatalf("a proposal waited for, or failed without, a verifier slot: %v", err)
	}
	waiting, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	cast := (&ballot.Tx{Cast: f.e.Cast(f.e.NewVoter(), 1, 1)}).Encode()
	if _, err := f.app.Submit(waiting, cast); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a cast submitted while every slot is busy: %v, want it to wait until its context ends", err)
	}
	if _, ok := f.app.pool.Get(ballot.TxID(cast)); ok {
		t.Fatal("a cast whose check never ran is in the mempool")
	}
}

// Casts from peers waiting for a verifier slot count as pending for the
// backpressure on clients, as those in the mempool do: a node whose
// queue of gossiped casts is AdmitPending long refuses a client's cast at
// once (overloaded) instead of decoding it and queueing it behind them.
func TestClientCastsAreRefusedWhileGossipedCastsWaitForVerification(t *testing.T) {
	f := newAppFixture(t, "")
	ctx := context.Background()
	f.defineBallot(t)
	f.app.admit = 2
	release := f.holdTheOneVerifier()

	gossiped := [][]byte{(&ballot.Tx{Cast: f.e.Cast(f.e.NewVoter(), 1, 0)}).Encode(), (&ballot.Tx{Cast: f.e.Cast(f.e.NewVoter(), 1, 1)}).Encode()}
	done := make(chan []error)
	go func() { _, errs := f.app.SubmitMany(ctx, gossiped); done <- errs }()
	for deadline := time.Now().Add(10 * time.Second); f.app.checking.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the gossiped casts never reached the verification queue")
		}
	}
	if f.app.pool.Len() != 0 {
		t.Fatalf("%d transactions in the mempool before any check", f.app.pool.Len())
	}
	waiting, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client := (&ballot.Tx{Cast: f.e.Cast(f.e.NewVoter(), 2, 2)}).Encode()
	if _, errs := f.app.SubmitFromClient(waiting, [][]byte{client}); !errors.Is(errs[0], ballot.ErrOverloaded) {
		t.Fatalf("a client's cast while 2 gossiped casts wait for their check, with AdmitPending 2: %v, want overloaded", errs[0])
	}
	release()
	for i, err := range <-done {
		if err != nil {
			t.Fatalf("gossiped cast %d: %v", i, err)
		}
	}
	if n := f.app.checking.Load(); n != 0 {
		t.Fatalf("%d transactions still counted as being checked once SubmitMany returned", n)
	}
}
