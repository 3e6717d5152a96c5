package client

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// benchWindow is one timed run of the bench: workers send the prepared
// casts, a watcher records when each is final, and the report is made of
// both.
type benchWindow struct {
	cfg      BenchConfig
	perVoter [][]*benchCast
	byID     map[consensus.Hash]*benchCast
	rep      *BenchReport
	progress func(string, int, int)
	pace     *rate.Limiter // nil: as fast as accepted

	mu         sync.Mutex // guards finalAt, superseded and benchCast.superseded
	finalAt    map[consensus.Hash]time.Time
	superseded int

	sent, retried atomic.Int64
	rejMu         sync.Mutex // guards rep.Rejected
}

func benchRun(ctx context.Context, cfg BenchConfig, perVoter [][]*benchCast, rep *BenchReport, progress func(string, int, int)) error {
	w := &benchWindow{cfg: cfg, perVoter: perVoter, rep: rep, progress: progress,
		byID: make(map[consensus.Hash]*benchCast, cfg.Casts), finalAt: make(map[consensus.Hash]time.Time, cfg.Casts)}
	for _, cs := range perVoter {
		for _, c := range cs {
			w.byID[c.id] = c
		}
	}
	if cfg.Rate > 0 {
		w.pace = rate.NewLimiter(rate.Limit(cfg.Rate), max(1, cfg.Batch))
	}
	startHeight := uint64(0)
	if st, err := cfg.Nodes[0].Status(ctx); err == nil {
		startHeight = st.Height
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- w.watchFinal(watchCtx, cfg.Nodes[0], startHeight, &rep.Blocks)
	}()

	if cfg.OnWindow != nil {
		cfg.OnWindow(true)
		defer cfg.OnWindow(false)
	}
	start := time.Now()
	w.send(ctx)
	sendDone := time.Now()
	if err := w.waitFinal(ctx, watchDone); err != nil {
		return err
	}
	stopWatch()
	w.report(start, sendDone)
	return nil
}

// send hands each voter's casts to one of cfg.Concurrency workers, which
// send them in order, and returns when every cast got its answer.
func (w *benchWindow) send(ctx context.Context) {
	var wg sync.WaitGroup
	work := make(chan []*benchCast)
	for i := range w.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.worker(ctx, w.cfg.Nodes[i%len(w.cfg.Nodes)], work)
		}()
	}
	for _, cs := range w.perVoter {
		select {
		case work <- cs:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	w.rep.Sent = int(w.sent.Load())
	w.rep.Retried = int(w.retried.Load())
	for _, cs := range w.perVoter {
		for _, c := range cs {
			if c.ok {
				w.rep.Accepted++
			}
		}
	}
}

// worker sends the casts it is given to node, one by one or in batches
// of cfg.Batch, at the pace asked.
func (w *benchWindow) worker(ctx context.Context, node *Node, work <-chan []*benchCast) {
	var batch []*benchCast
	for cs := range work {
		for _, c := range cs {
			if w.pace != nil && w.pace.Wait(ctx) != nil {
				return
			}
			if w.cfg.Batch > 1 {
				if batch = append(batch, c); len(batch) >= w.cfg.Batch {
					w.sendBatch(ctx, node, batch)
					batch = batch[:0]
				}
				continue
			}
			c.sent = time.Now()
			err := retryOverloaded(ctx, w.cfg.Timeout, func() error {
				_, err := node.SubmitCast(ctx, c.cast)
				if Overloaded(err) {
					w.retried.Add(1)
				}
				return err
			})
			w.record(c, err)
		}
	}
	w.sendBatch(ctx, node, batch)
}

// sendBatch sends casts in one request. Casts a busy node answered 503
// overloaded are sent again (a client's duty); latency counts from the
// first try.
func (w *benchWindow) sendBatch(ctx context.Context, node *Node, batch []*benchCast) {
	if len(batch) == 0 {
		return
	}
	now := time.Now()
	for _, c := range batch {
		c.sent = now
	}
	todo := slices.Clone(batch)
	retryOverloaded(ctx, w.cfg.Timeout, func() error {
		casts := make([]*ballot.Cast, len(todo))
		for i, c := range todo {
			casts[i] = c.cast
		}
		res, err := node.SubmitCasts(ctx, casts)
		var again []*benchCast
		for i, c := range todo {
			e := err
			if err == nil && res[i].Error != nil {
				e = &Error{Status: res[i].Status, Code: res[i].Error.Code, Message: res[i].Error.Message}
			}
			if Overloaded(e) && ctx.Err() == nil {
				again = append(again, c)
				continue
			}
			w.record(c, e)
		}
		if todo = again; len(todo) > 0 {
			w.retried.Add(int64(len(todo)))
			return errStillOverloaded
		}
		return nil
	})
	for _, c := range todo { // still overloaded at the end of the budget
		w.record(c, errStillOverloaded)
	}
}

// record notes a cast's answer.
func (w *benchWindow) record(c *benchCast, err error) {
	c.ok = err == nil
	if err != nil {
		code := "error"
		var e *Error
		if errors.As(err, &e) {
			code = e.Code
		}
		w.rejMu.Lock()
		w.rep.Rejected[code]++
		w.rejMu.Unlock()
	}
	if n := w.sent.Add(1); n%500 == 0 {
		w.progress("send", w.finalCount(), w.cfg.Casts)
	}
}

func (w *benchWindow) finalCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.finalAt)
}

// seenFinal records that transaction id was final at now, if it is one of
// the bench's casts; the voter's earlier casts not final yet never will
// be (their seq is not above): they are superseded. The caller holds w.mu.
func (w *benchWindow) seenFinal(id consensus.Hash, now time.Time) {
	c, ok := w.byID[id]
	if !ok {
		return
	}
	w.finalAt[id] = now
	for p := c.prev; p != nil; p = p.prev {
		if _, final := w.finalAt[p.id]; !final && !p.superseded {
			p.superseded = true
			w.superseded++
		}
	}
}

// settled reports whether every accepted cast is final or superseded (the
// full walk only once the counts allow it).
func (w *benchWindow) settled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.finalAt)+w.superseded < w.rep.Accepted {
		return false
	}
	for _, cs := range w.perVoter {
		for _, c := range cs {
			if _, final := w.finalAt[c.id]; c.ok && !final && !c.superseded {
				return false
			}
		}
	}
	return true
}

// waitFinal waits until every accepted cast is final or superseded, or the
// timeout.
func (w *benchWindow) waitFinal(ctx context.Context, watchDone <-chan error) error {
	deadline := time.After(w.cfg.Timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		f := w.finalCount()
		w.progress("final", f, w.rep.Accepted)
		if w.settled() {
			return nil
		}
		select {
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		case err := <-watchDone:
			return err
		case <-tick.C:
		}
	}
}

// report fills the figures: final casts, the window from the start to the
// last cast seen final, rates and latency percentiles.
func (w *benchWindow) report(start, sendDone time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rep := w.rep
	var last time.Time
	lat := make([]float64, 0, len(w.finalAt))
	for id, at := range w.finalAt {
		lat = append(lat, float64(at.Sub(w.byID[id].sent).Microseconds())/1000)
		if at.After(last) {
			last = at
		}
	}
	rep.Final = len(w.finalAt)
	for _, cs := range w.perVoter {
		for _, c := range cs {
			_, final := w.finalAt[c.id]
			switch {
			case !c.ok || final:
			case c.superseded:
				rep.Superseded++
			case len(rep.Missing) < 10:
				rep.Missing = append(rep.Missing, c.id)
			}
		}
	}
	rep.Window = last.Sub(start)
	if rep.Window > 0 {
		rep.FinalRate = float64(rep.Final) / rep.Window.Seconds()
	}
	rep.SendRate = float64(rep.Sent) / sendDone.Sub(start).Seconds()
	rep.LatencyMs = percentiles(lat)
}

// watchFinal follows the node's blocks from height from+1 and records
// when each of the bench's casts is seen final.
func (w *benchWindow) watchFinal(ctx context.Context, n *Node, from uint64, blocks *int) error {
	mu := &w.mu
	h := from + 1
	for {
		b, err := n.BlockIDs(ctx, h)
		if IsCode(err, "not_found") {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(25 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Now()
		mu.Lock()
		for _, id := range b.TxIDs {
			w.seenFinal(id, now)
		}
		*blocks++
		mu.Unlock()
		h++
	}
}

func percentiles(ms []float64) Percentiles {
	if len(ms) == 0 {
		return Percentiles{}
	}
	sort.Float64s(ms)
	at := func(q float64) float64 { return ms[min(len(ms)-1, int(q*float64(len(ms))))] }
	return Percentiles{P50: at(.50), P90: at(.90), P99: at(.99), Max: slices.Max(ms)}
}
