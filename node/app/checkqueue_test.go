package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cocorico/node/ballot"
)

// queueWhileHeld submits each of txs in a request of its own while the
// app's one verifier slot is held, waits until all are queued, releases
// the slot and returns each request's error and the batches checked.
func queueWhileHeld(t *testing.T, f *appFixture, txs [][]byte) (errs []error, batches [][]*ballot.Tx) {
	t.Helper()
	var mu sync.Mutex
	f.app.checkedBatch = func(b []*ballot.Tx) {
		mu.Lock()
		batches = append(batches, slices.Clone(b))
		mu.Unlock()
	}
	release := f.holdTheOneVerifier()
	errs = make([]error, len(txs))
	var wg sync.WaitGroup
	for i, tx := range txs {
		wg.Go(func() { _, errs[i] = f.app.Submit(context.Background(), tx) })
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		f.app.checks.mu.Lock()
		n := len(f.app.checks.waiting)
		f.app.checks.mu.Unlock()
		if n == len(txs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests queued", n, len(txs))
		}
	}
	release()
	wg.Wait()
	if n := len(f.app.checks.waiting); n != 0 {
		t.Fatalf("%d checks left in the queue once every request is answered", n)
	}
	return errs, batches
}

func sizes(batches [][]*ballot.Tx) []int {
	var s []int
	for _, b := range batches {
		s = append(s, len(b))
	}
	return s
}

// Twenty voters' casts, each in a request of its own, that wait for the
// one verifier slot are checked in a batch or two (each a share of the
// queue per core, 16 at least), not twenty: a busy node checks its
// clients' signatures at the batch's price. Each request gets its own
// cast's verdict.
func TestCastsOfSeparateRequestsWaitingForASlotAreCheckedInOneBatch(t *testing.T) {
	f := newAppFixture(t, "")
	f.defineBallot(t)
	var txs [][]byte
	for range 20 {
		txs = append(txs, (&ballot.Tx{Cast: f.e.Cast(f.e.NewVoter(), 1, 0)}).Encode())
	}
	errs, batches := queueWhileHeld(t, f, txs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("cast %d: %v", i, err)
		}
		if _, ok := f.app.pool.Get(ballot.TxID(txs[i])); !ok {
			t.Fatalf("cast %d accepted but not in the mempool", i)
		}
	}
	var want []int // a share of the queue per core, 16 at least: [16 4] on 2 cores, [20] on 1
	for left := 20; left > 0; left -= want[len(want)-1] {
		want = append(want, min(batchSize(left), left))
	}
	if got := sizes(batches); !slices.Equal(got, want) {
		t.Fatalf("batches of %v, want %v", got, want)
	}
}

// A cast whose token is good and whose signature is not, batched with
// others, costs them a check one by one once, and no more: its voter key
// is then a suspect, whose casts are checked alone, while the others'
// are still batched. Every honest cast is accepted, and only the bad one
// refused, either way.
func TestACastWithABadSignatureIsRefusedAloneAndItsVoterKeyCheckedAloneAfter(t *testing.T) {
	f := newAppFixture(t, "")
	f.defineBallot(t)
	liar := f.e.NewVoter()
	bad := func(seq uint64) []byte {
		c := f.e.Cast(liar, seq, 0)
		c.Signature[0] ^= 1
		return (&ballot.Tx{Cast: c}).Encode()
	}
	for round := range 2 {
		var txs [][]byte
		for range 7 {
			txs = append(txs, (&ballot.Tx{Cast: f.e.Cast(f.e.NewVoter(), 1, 0)}).Encode())
		}
		txs = append(txs, bad(uint64(round+1)))
		errs, batches := queueWhileHeld(t, f, txs)
		for i, err := range errs {
			switch {
			case i == len(txs)-1 && !errors.Is(err, ballot.ErrVoterSignature):
				t.Fatalf("round %d: the bad signature: %v, want %v", round, err, ballot.ErrVoterSignature)
			case i < len(txs)-1 && err != nil:
				t.Fatalf("round %d: honest cast %d: %v", round, i, err)
			}
		}
		want := []int{8} // round 0: all in one batch, the liar unknown
		if round == 1 {
			want = []int{1, 7} // round 1: the liar's cast alone, the others batched (in either order)
		}
		got := sizes(batches)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: batches of %v, want %v", round, got, want)
		}
		for _, b := range batches {
			if len(b) == 1 && !bytes.Equal(b[0].Cast.Voter, liar.Key.Public().(ed25519.PublicKey)) {
				t.Fatalf("round %d: an honest cast checked alone", round)
			}
		}
	}
}

// The suspects an app keeps are bounded: the least recently seen key
// goes when a new one comes to a full table.
func TestSuspectVoterKeysAreBoundedOldestFirst(t *testing.T) {
	s := newAppFixture(t, "").app.checks.suspects
	key := func(i int) string { return fmt.Sprintf("voter-key-%08d", i) }
	for i := range suspectsKept + 10 {
		s.Put(key(i))
		s.Put(key(i)) // twice: one entry
	}
	if s.Len() != suspectsKept {
		t.Fatalf("%d keys kept, want %d", s.Len(), suspectsKept)
	}
	for i := range 10 {
		if _, ok := s.Get(key(i)); ok {
			t.Fatalf("key %d, among the oldest, still kept", i)
		}
	}
	if _, ok := s.Get(key(10)); !ok {
		t.Fatal("the oldest key kept is not")
	}
	if _, ok := s.Get(key(suspectsKept + 9)); !ok {
		t.Fatal("the newest key is not kept")
	}
}

// A short queue waits for company only when company is coming (more
// transactions in SubmitMany than queued), and no longer than lingerFor
// after its oldest came; a queue of a batch's worth does not wait.
func TestAShortQueueWaitsForCompanyOnlyWhenSomeIsComingAndNotLong(t *testing.T) {
	now := time.Now()
	queue := func(n int, age time.Duration) *checkQueue {
		q := &checkQueue{}
		for range n {
			q.waiting = append(q.waiting, &queuedCheck{at: now.Add(-age)})
		}
		return q
	}
	for _, c := range []struct {
		queued, checking int
		age              time.Duration
		waits            bool
	}{
		{0, 5, 0, false},
		{1, 1, 0, false},                      // alone: no company coming
		{1, 5, 0, true},                       // four more on their way
		{3, 5, 0, true},                       //
		{1, 5, 2 * lingerFor, false},          // waited enough
		{minBatch, 2 * minBatch, 0, false},    // a batch's worth
		{minBatch - 1, 2 * minBatch, 0, true}, //
	} {
		if got := queue(c.queued, c.age).lingerLeft(c.checking) > 0; got != c.waits {
			t.Errorf("%d queued %v ago, %d in SubmitMany: waits %v, want %v", c.queued, c.age, c.checking, got, c.waits)
		}
	}
}

// A request's runner that finds the queue empty while the rest of its
// casts are checked in another runner's batch waits for them: it neither
// holds a slot nor takes a free one again and again. In a synctest bubble
// a runner that spins is never durably blocked, and synctest.Wait would
// not return.
func TestARunnerWithNothingLeftToTakeWaitsWithoutSpinning(t *testing.T) {
	f := newAppFixture(t, "")
	f.defineBallot(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // two runners for one request of 20
	var txs [][]byte
	for range 20 {
		txs = append(txs, (&ballot.Tx{Cast: f.e.Cast(f.e.NewVoter(), 1, 0)}).Encode())
	}
	synctest.Test(t, func(t *testing.T) {
		f.app.verifiers = NewVerifiers(2)
		gate := make(chan struct{})
		var mu sync.Mutex
		var batches []int
		f.app.checkedBatch = func(b []*ballot.Tx) {
			mu.Lock()
			batches = append(batches, len(b))
			first := len(batches) == 1
			mu.Unlock()
			if first {
				<-gate // the first batch checked holds its slot
			}
		}
		var errs []error
		done := make(chan struct{})
		go func() {
			_, errs = f.app.SubmitMany(context.Background(), txs)
			close(done)
		}()
		release := sync.OnceFunc(func() { close(gate) })
		defer func() { release(); <-done }() // on a failure too: nothing left blocked in the bubble
		// The other runner checks its batch, after waiting lingerFor for
		// company (casts under way count as coming), then waits.
		synctest.Wait()
		time.Sleep(lingerFor)
		synctest.Wait()
		mu.Lock()
		got := slices.Clone(batches)
		mu.Unlock()
		if slices.Sort(got); !slices.Equal(got, []int{4, 16}) {
			t.Fatalf("batches checked before the first is released: %v, want [4 16]", got)
		}
		select {
		case <-done:
			t.Fatal("the request was answered before its first batch was checked")
		default:
		}
		release()
		<-done
		for i, err := range errs {
			if err != nil {
				t.Fatalf("cast %d: %v", i, err)
			}
		}
	})
}
