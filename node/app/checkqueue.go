package app

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/throttle"
)

// checkQueue gathers the transactions of every request and gossip message
// whose signatures wait for a verifier slot, so that the request that
// gets a slot checks what all of them brought in one batch. A voter
// sends one cast a request: checked alone, an Ed25519 signature costs
// twice what it costs in a batch (BenchmarkSubmitOneCastARequest), and a
// busy node has many such requests at once. A short queue waits a little
// for company only when company is coming (lingerFor); otherwise a
// request that finds a slot free checks at once what is there, its own
// at least.
//
// A batch with a bad signature in it is checked again one by one (the
// ballot's CheckBatch), which costs every cast in it. The voter key of a
// cast refused for its signature is remembered (suspects), and its casts
// are then checked alone for a while: a voter who sends casts with bad
// signatures, to make the node check its neighbours' one by one, does so
// once per key it holds a token for (a token is what a registrar gives
// one voter), not once per request.
type checkQueue struct {
	mu       sync.Mutex
	waiting  []*queuedCheck
	suspects *throttle.LRU[string, struct{}] // voter keys, at most suspectsKept
}

// queuedCheck is one transaction in the queue and, once checked, its
// verdict.
type queuedCheck struct {
	at   time.Time // when it was queued
	tx   *ballot.Tx
	data []byte
	out  *ballot.Checked
	err  error
	from *checkGroup
}

// checkGroup is the transactions of one SubmitMany: done is closed once
// every one of them has its verdict.
type checkGroup struct {
	left int // guarded by checkQueue.mu
	done chan struct{}
}

// checkQueued applies the stateless rules to txs[i] (decoded[i]) for each
// i in todo, batched with what other callers queued, in the verifier
// slots, and writes out[i] or errs[i] (ctx's error for those still
// queued when it ends).
func (a *App) checkQueued(ctx context.Context, todo []int, decoded []*ballot.Tx, txs [][]byte, out []*ballot.Checked, errs []error) {
	if len(todo) == 0 {
		return
	}
	g := &checkGroup{left: len(todo), done: make(chan struct{})}
	items := make([]queuedCheck, len(todo))
	q := &a.checks
	now := time.Now()
	q.mu.Lock()
	for j, i := range todo {
		items[j] = queuedCheck{at: now, tx: decoded[i], data: txs[i], from: g}
		q.waiting = append(q.waiting, &items[j])
	}
	q.mu.Unlock()
	// As many runners as this group's batches could use, each taking
	// whatever is queued, this group's or another's, until this group is
	// done: a large gossip message still spreads over every core.
	runners := min(runtime.GOMAXPROCS(0), (len(todo)+minBatch-1)/minBatch)
	var wg sync.WaitGroup
	for range runners - 1 {
		wg.Go(func() { a.runChecks(ctx, g) })
	}
	a.runChecks(ctx, g)
	wg.Wait()
	for j, i := range todo {
		out[i], errs[i] = items[j].out, items[j].err
	}
}

// runChecks checks batches from the queue in a verifier slot until g is
// done; once the queue is empty, g's last transactions are in batches
// other runners check, and it waits for them without a slot. When ctx
// ends, g's transactions still queued are given ctx's error; those in a
// batch under way are waited for.
func (a *App) runChecks(ctx context.Context, g *checkGroup) {
	q := &a.checks
	giveUp := func(err error) {
		q.drop(g, err)
		<-g.done
	}
	for {
		if wait := q.lingerLeft(int(a.checking.Load())); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-g.done:
				t.Stop()
				return
			case <-ctx.Done():
				t.Stop()
				giveUp(ctx.Err())
				return
			}
		}
		var batch []*queuedCheck
		ran, err := a.verifiers.do(ctx, g.done, func() {
			if batch = q.take(); len(batch) > 0 {
				a.checkBatch(batch)
			}
		})
		switch {
		case err != nil:
			giveUp(err)
			return
		case !ran:
			return // g is done
		case len(batch) == 0:
			// The queue is empty: taking a free slot again and again
			// until g is done spun a core.
			select {
			case <-g.done:
			case <-ctx.Done():
				giveUp(ctx.Err())
			}
			return
		}
	}
}

// lingerFor is how long a queue of fewer than minBatch transactions
// waits for company before it is checked, when company is coming (other
// requests or messages are in SubmitMany, their cheap rules under way):
// a verifier slot is often free on a busy node too (its cores are busy
// with the rest of its work), and a cast alone would be checked at twice
// a batched one's price. Against a cast's second or so from a voter's
// click to a final block, nothing; and a lone request, or one address's
// requests (each waits for the one before: the API's turns), do not wait.
const lingerFor = 2 * time.Millisecond

// lingerLeft is how long the queue still waits for company, with
// checking transactions in SubmitMany (0: check it now).
func (q *checkQueue) lingerLeft(checking int) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.waiting); n == 0 || n >= minBatch || checking <= n {
		return 0
	}
	return max(0, lingerFor-time.Since(q.waiting[0].at))
}

// take removes from the queue the next batch to check: a suspect's cast
// alone, else up to a batch of the others (a share of the queue per core,
// minBatch at least), which pass the suspects' casts by.
func (q *checkQueue) take() []*queuedCheck {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) == 0 {
		return nil
	}
	if q.suspect(q.waiting[0]) {
		first := q.waiting[0]
		q.waiting = q.waiting[1:]
		return []*queuedCheck{first}
	}
	size := batchSize(len(q.waiting))
	var batch []*queuedCheck
	q.waiting = slices.DeleteFunc(q.waiting, func(c *queuedCheck) bool {
		if len(batch) < size && !q.suspect(c) {
			batch = append(batch, c)
			return true
		}
		return false
	})
	return batch
}

func (q *checkQueue) suspect(c *queuedCheck) bool {
	if c.tx.Cast == nil {
		return false
	}
	_, ok := q.suspects.Get(string(c.tx.Cast.Voter))
	return ok
}

// drop gives err to g's transactions still queued.
func (q *checkQueue) drop(g *checkGroup, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting = slices.DeleteFunc(q.waiting, func(c *queuedCheck) bool {
		if c.from != g {
			return false
		}
		c.err = err
		q.settle(c)
		return true
	})
}

// settle counts c's verdict in its group (q.mu held).
func (q *checkQueue) settle(c *queuedCheck) {
	if c.from.left--; c.from.left == 0 {
		close(c.from.done)
	}
}

// checkBatch checks a batch taken from the queue and gives each its
// verdict.
func (a *App) checkBatch(batch []*queuedCheck) {
	txs := make([]*ballot.Tx, len(batch))
	data := make([][]byte, len(batch))
	for i, c := range batch {
		txs[i], data[i] = c.tx, c.data
	}
	out, errs := ballot.CheckBatch(a.rules, txs, data, a.state)
	if a.checkedBatch != nil {
		a.checkedBatch(txs)
	}
	q := &a.checks
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, c := range batch {
		c.out, c.err = out[i], errs[i]
		if errors.Is(c.err, ballot.ErrVoterSignature) {
			q.suspects.Put(string(c.tx.Cast.Voter))
		}
		q.settle(c)
	}
}

// suspectsKept is how many voter keys checkQueue.suspects remembers (a
// key and a table entry each: a few hundred KiB at most); the least
// recently seen goes first.
const suspectsKept = 4096
