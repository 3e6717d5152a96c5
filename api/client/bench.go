package client

import (
	"context"

	"crypto/ed25519"
	"errors"
	"fmt"
	"golang.org/x/time/rate"
	"io"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
)

// BenchConfig configures a load run against one or more nodes.
type BenchConfig struct {
	Nodes     []*Node
	Registrar *Registrar
	Ballot    consensus.Hash
	// Roll lists the voters to take tokens for; Voters of them are used.
	Roll   []registrar.RollEntry
	Voters int
	// Casts is the number of casts to send; beyond Voters they are
	// re-votes (the ballot must allow them), each voter's in seq order.
	Casts int
	// Concurrency is the number of clients sending at once.
	Concurrency int
	// Rate caps the sending rate in casts/s; 0 sends as fast as accepted.
	Rate float64
	// Batch sends this many casts per request (POST /v1/casts/batch);
	// 0 or 1 sends one cast per request (POST /v1/casts).
	Batch int
	Rand  io.Reader
	// Progress, if set, is called often with the phase and its progress.
	Progress func(phase string, done, total int)
	// Timeout bounds the wait for the last casts to be final.
	Timeout time.Duration
	// OnWindow, if set, is called when the timed window opens and closes
	// (to profile exactly that part).
	OnWindow func(open bool)
	// Tokens, if set, names a file of the voters' tokens: read from it
	// when it exists (written by an earlier run for the same ballot: on
	// a copy of the devnet as it was before that run's casts), else
	// obtained from the registrar and written to it.
	Tokens string
	// TokensOnly stops once the tokens are obtained (and written to
	// Tokens): nothing is sent.
	TokensOnly bool
}

// BenchReport is what a run measured.
type BenchReport struct {
	Nodes     int            `json:"nodes"`
	Voters    int            `json:"voters"`
	Skipped   int            `json:"skipped_voters"` // roll voters who already had a token
	Sent      int            `json:"sent"`
	Accepted  int            `json:"accepted"`
	Rejected  map[string]int `json:"rejected"`
	Retried   int            `json:"retried"` // sends again after a 503 overloaded
	Final     int            `json:"final"`
	Prepare   time.Duration  `json:"prepare_ns"`
	Window    time.Duration  `json:"window_ns"`
	FinalRate float64        `json:"final_casts_per_s"`
	SendRate  float64        `json:"sent_casts_per_s"`
	LatencyMs Percentiles    `json:"latency_ms"`
	Blocks    int            `json:"blocks"`
	// Superseded counts the accepted casts never final because a later
	// cast of the same voter key was final first (on a chain without a
	// re-vote interval a voter's casts can reach the proposers out of
	// order; the earlier one is then refused: its seq is not above).
	Superseded int `json:"superseded"`
	// Missing lists (some of) the accepted casts never seen final nor
	// superseded.
	Missing []consensus.Hash `json:"missing,omitempty"`
}

// Percentiles of cast-to-final latency, in milliseconds.
type Percentiles struct {
	P50, P90, P99, Max float64
}

// errStillOverloaded stands for the 503 answers of the last try, for the
// casts of a batch still refused by overload when the retry budget ends.
var errStillOverloaded = &Error{Status: 503, Code: "overloaded", Message: "node overloaded"}

type benchCast struct {
	cast *ballot.Cast
	id   consensus.Hash
	sent time.Time
	ok   bool
	prev *benchCast // the voter's cast before this one, if any
	// superseded: a later cast of the voter was final first (under
	// benchWindow.mu).
	superseded bool
}

// Bench obtains the tokens and signs every cast before its timed window;
// then sends them from concurrent clients, round-robin over the nodes,
// and watches the first node's blocks to time each cast to finality.
func Bench(ctx context.Context, cfg BenchConfig) (*BenchReport, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Voters <= 0 || cfg.Voters > len(cfg.Roll) {
		cfg.Voters = min(len(cfg.Roll), cfg.Casts)
	}
	cfg.Casts = max(cfg.Casts, cfg.Voters)
	if cfg.Voters == 0 || cfg.Casts < cfg.Voters {
		return nil, fmt.Errorf("bench: %d casts for %d voters", cfg.Casts, cfg.Voters)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}
	g, err := cfg.Nodes[0].Genesis(ctx)
	if err != nil {
		return nil, err
	}
	b, _, err := cfg.Nodes[0].Ballot(ctx, cfg.Ballot)
	if err != nil {
		return nil, err
	}
	if cfg.Casts > cfg.Voters && !b.Def.Revote {
		return nil, errors.New("bench: more casts than voters needs a ballot that allows re-voting")
	}
	// The chain bounds re-votes (docs/PROTOCOL.md §13): the casts of one
	// voter go in one batch, so they must fit the chain's bounds at once.
	if per := (cfg.Casts + cfg.Voters - 1) / cfg.Voters; per > 1 && (per > g.App.MaxCastsPerVoter || g.App.RevoteIntervalMs > 0) {
		return nil, fmt.Errorf("bench: %d casts per voter, but this chain allows %d per voter key, %d ms apart: give more voters (a devnet for benchmarks: --max-casts-per-voter and --revote-interval 0)",
			per, g.App.MaxCastsPerVoter, g.App.RevoteIntervalMs)
	}
	chain := g.Chain()
	start := time.Now()
	toks, skipped, err := tokensFor(ctx, cfg, b, progress)
	if err != nil {
		return nil, err
	}
	if cfg.TokensOnly {
		return &BenchReport{Nodes: len(cfg.Nodes), Voters: len(toks), Skipped: skipped, Rejected: map[string]int{}, Prepare: time.Since(start)}, nil
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("bench: no voter of the roll could get a token (%d already had one)", skipped)
	}
	// Fewer voters than asked could get a token (the roll ran out): no
	// more casts per voter than the ballot and the chain take.
	if cfg.Voters = len(toks); cfg.Casts > cfg.Voters && (!b.Def.Revote || g.App.RevoteIntervalMs > 0) {
		cfg.Casts = cfg.Voters
	}
	cfg.Casts = min(cfg.Casts, cfg.Voters*g.App.MaxCastsPerVoter)
	// Casts per voter, in seq order; a voter's casts all go through one client.
	perVoter := make([][]*benchCast, cfg.Voters)
	for i := range cfg.Casts {
		v := i % cfg.Voters
		t := toks[v]
		c := &ballot.Cast{BallotID: b.ID, Seq: uint64(len(perVoter[v]) + 1), Choice: uint32(i % len(b.Def.Choices)),
			Registrar: t.registrar, TokenPrefix: t.tok.Prefix, Token: t.tok.Signature}
		c.Sign(chain, t.key)
		bc := &benchCast{cast: c, id: c.ID()}
		if k := len(perVoter[v]); k > 0 {
			bc.prev = perVoter[v][k-1]
		}
		perVoter[v] = append(perVoter[v], bc)
		if i%1000 == 0 {
			progress("sign", i, cfg.Casts)
		}
	}
	progress("sign", cfg.Casts, cfg.Casts)
	rep := &BenchReport{Nodes: len(cfg.Nodes), Voters: cfg.Voters, Skipped: skipped, Rejected: map[string]int{}, Prepare: time.Since(start)}
	return rep, benchRun(ctx, cfg, perVoter, rep, progress)
}

type voterToken struct {
	key       ed25519.PrivateKey
	tok       ballot.Token
	registrar uint8
}

// tokensFor returns the voters' tokens: from cfg.Tokens when that file
// exists, else from the registrar (and then written to cfg.Tokens).
func tokensFor(ctx context.Context, cfg BenchConfig, b *ballot.Ballot, progress func(string, int, int)) ([]voterToken, int, error) {
	if cfg.Tokens != "" {
		toks, found, err := loadTokens(cfg.Tokens, b.ID, cfg.Voters)
		if found || err != nil {
			return toks, 0, err
		}
	}
	toks, skipped, err := benchTokens(ctx, cfg, b, progress)
	if err == nil && cfg.Tokens != "" {
		if err = saveTokens(cfg.Tokens, b.ID, toks); err != nil {
			err = fmt.Errorf("bench: keep the tokens: %w", err)
		}
	}
	return toks, skipped, err
}

// benchTokens takes a token for each of the first cfg.Voters voters of the
// roll; voters who already have one (an earlier run) are skipped.
func benchTokens(ctx context.Context, cfg BenchConfig, b *ballot.Ballot, progress func(string, int, int)) ([]voterToken, int, error) {
	idx, err := registrarIndex(b, cfg.Registrar.URL())
	if err != nil {
		return nil, 0, err
	}
	out := make([]*voterToken, len(cfg.Roll))
	var done, skipped atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var rmu sync.Mutex // the random source is not safe for concurrent use
	var wg sync.WaitGroup
	next := make(chan int)
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				seed := make([]byte, ed25519.SeedSize)
				var key ed25519.PrivateKey
				var tr *ballot.TokenRequest
				rmu.Lock()
				_, err := io.ReadFull(cfg.Rand, seed)
				if err == nil {
					key = ed25519.NewKeyFromSeed(seed)
					tr, err = ballot.NewTokenRequest(cfg.Rand, b.Keys[idx], b.ID, key.Public().(ed25519.PublicKey))
				}
				rmu.Unlock()
				var sig []byte
				if err == nil {
					sig, err = cfg.Registrar.Token(ctx, registrarapi.TokenRequest{BallotID: b.ID,
						VoterID: cfg.Roll[i].VoterID, Code: cfg.Roll[i].Code, Blinded: tr.Blinded})
				}
				if IsCode(err, "already_issued") {
					skipped.Add(1)
					continue
				}
				var tok ballot.Token
				if err == nil {
					tok, err = tr.Finalize(sig)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("token of %s: %w", cfg.Roll[i].VoterID, err)
					}
					mu.Unlock()
					continue
				}
				out[i] = &voterToken{key: key, tok: tok, registrar: uint8(idx)}
				if n := done.Add(1); n%100 == 0 {
					progress("tokens", int(n), cfg.Voters)
				}
			}
		}()
	}
	// Walk the roll until enough voters have a token: voters of an
	// earlier run (who have one already) are skipped.
	for i := range cfg.Roll {
		if int(done.Load()) >= cfg.Voters || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	progress("tokens", cfg.Voters, cfg.Voters)
	if firstErr != nil {
		return nil, 0, firstErr
	}
	var toks []voterToken
	for _, t := range out {
		if t != nil && len(toks) < cfg.Voters {
			toks = append(toks, *t)
		}
	}
	return toks, int(skipped.Load()), ctx.Err()
}

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
