package app

import (
	"context"
	"runtime"
)

// Verifiers bounds how many batches of the signatures that clients and
// peers send are checked at once: one per core, shared by every app of a
// process (the validators of a devnet share one machine's cores).
//
// Without it, every HTTP request and every gossip message checks its
// casts on goroutines of its own, and under load tens of CPU-bound
// goroutines fill the scheduler's run queue. A goroutine woken by the
// network then waits behind all of them, at every hop: a 2 MB proposal
// took 2 to 3 s to cross a loopback link (yamux moves a window at a time,
// each a few wake-ups), the round timed out, and the mempool filled up
// until clients were refused. A check waiting for a slot is parked, not
// runnable: the run queue holds about one CPU-bound goroutine per core,
// and the network and consensus run within a time slice.
//
// Clients' and peers' transactions wait for a slot in the app's queue
// (checkQueue), which batches them across requests.
//
// The checks of blocks (proposals, block sync, recount) take no slot:
// they are few, and consensus must not wait behind the mempool's queue.
type Verifiers struct {
	slots chan struct{} // a value in it per slot taken
}

// NewVerifiers returns room for n batches checked at once; n < 1 means
// runtime.GOMAXPROCS(0), one per core.
func NewVerifiers(n int) *Verifiers {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Verifiers{slots: make(chan struct{}, n)}
}

// do runs fn in a slot, once one is free (the waiting are served in
// order: a channel's senders queue), and returns true; unless done is
// closed first (a nil done never is): then false, without running fn; or
// ctx ends first: then its error.
func (v *Verifiers) do(ctx context.Context, done <-chan struct{}, fn func()) (bool, error) {
	select {
	case v.slots <- struct{}{}:
	case <-done:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-v.slots }()
	fn()
	return true, nil
}
