package api

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/throttle"
)

// RefusalLimits bound what one client address may make the node check in
// vain: a transaction the node refuses as invalid (400 or 403: a forged
// signature or token, a malformed body) costs its address one of Burst
// attempts, and one comes back every Every. An address out of attempts
// gets 429 throttled before its request is read. Accepted transactions
// and refusals that cost no verification of the client's making (409
// duplicate or replay, 429, 503) are free. An IPv6 address counts by its
// /64.
type RefusalLimits struct {
	Burst int
	Every time.Duration
	// Entries bounds the addresses remembered (the least recently seen
	// are forgotten).
	Entries int
	// ClientIPHeader, if set, is the header a trusted reverse proxy puts
	// the client's address in (ClientAddr).
	ClientIPHeader string
}

// DefaultRefusalLimits: 200 refused transactions at once, then 20 a
// second, 65,536 addresses (about 10 MiB at most).
var DefaultRefusalLimits = RefusalLimits{Burst: 200, Every: 50 * time.Millisecond, Entries: 1 << 16}

// refusals is the state of RefusalLimits: a token bucket per address
// (throttle.Buckets, as the registrar's throttle of wrong codes
// has). It also holds the budget of the transactions' bodies
// (BodyLimits).
type refusals struct {
	header string
	mu     sync.Mutex
	t      *throttle.Buckets
	bodies *bodyBudget
	// small is the budget of the bodies of the one-transaction endpoints
	// (at most smallBodyMax each), apart from the batches' bodies.
	small *bodyBudget
	// turns holds, for each address with a transaction request under
	// way, the turn its requests take one at a time (the entry goes with
	// its last request).
	turns map[string]*turn
}

// turn is an address's turn at the transaction endpoints: a request holds
// it from once its body is read until it is answered.
type turn struct {
	ch    chan struct{}
	users int
}

// TurnWait is how long a transaction request waits for its address's
// previous one to be answered before it is refused (503 overloaded).
const TurnWait = 5 * time.Second

func newRefusals(l RefusalLimits, b, small BodyLimits) *refusals {
	d := DefaultRefusalLimits
	return &refusals{header: l.ClientIPHeader, bodies: newBodyBudget(b), small: newBodyBudgetOf(small, DefaultSmallBodyLimits),
		turns: map[string]*turn{},
		t:     throttle.NewBuckets(cmp.Or(l.Burst, d.Burst), cmp.Or(l.Every, d.Every), cmp.Or(l.Entries, d.Entries))}
}

// take waits for key's turn (at most TurnWait, or ctx's end) and returns
// the function that gives it back, or nil if the turn did not come.
func (f *refusals) take(ctx context.Context, key string) func() {
	f.mu.Lock()
	tn := f.turns[key]
	if tn == nil {
		tn = &turn{ch: make(chan struct{}, 1)}
		f.turns[key] = tn
	}
	tn.users++
	f.mu.Unlock()
	leave := func() {
		f.mu.Lock()
		if tn.users--; tn.users == 0 {
			delete(f.turns, key)
		}
		f.mu.Unlock()
	}
	t := time.NewTimer(TurnWait)
	defer t.Stop()
	select {
	case tn.ch <- struct{}{}:
		return func() { <-tn.ch; leave() }
	case <-t.C:
	case <-ctx.Done():
	}
	leave()
	return nil
}

// isRefusal reports whether a transaction answered status was refused as
// invalid (what costs its sender an attempt).
func isRefusal(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusForbidden
}

// guard wraps a handler of transactions: an address out of attempts is
// refused before anything is read, and each refusal (400 or 403) the
// handler answers costs one attempt; a handler that answers for many
// transactions at once reports the refused ones with refused. The
// handler's ReadJSON holds its body within the BodyLimits.
//
// An address's transactions are checked one request at a time (loopback
// clients too: their refusals count like anyone's), each after the
// refusals of the one before have been counted: without this, concurrent
// batches all passed the check of the address's attempts before any was
// counted, and 14 batches of 1,000 forged casts sent at once were all
// verified against a budget of 200.
// The turn is taken once the body is read (ReadJSON), so that voters
// behind one address (a carrier's NAT) do not wait for each other's
// uploads, only for each other's checks; a request waits for it at most
// TurnWait (then 503 overloaded). An address's batches are each verified
// on every core, so taking them in turn costs an honest relay little.
func (f *refusals) guard(h func(w http.ResponseWriter, r *http.Request, refused func(n int))) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		addr := ClientAddr(r, f.header)
		key := registrar.AddressKey(addr)
		loopback := addr.Unmap().IsLoopback()
		ticket := &bodyTicket{budget: f.bodies, small: f.small, key: key, exempt: loopback,
			turn: func(ctx context.Context) (func(), error) { return f.turnOf(ctx, key) }}
		r = withBodyTicket(r, ticket)
		f.mu.Lock()
		wait := f.t.Wait(key, time.Now())
		f.mu.Unlock()
		if wait > 0 {
			CloseUnread(w, r)
			WriteError(w, &registrar.RetryError{Err: registrar.ErrThrottled, After: wait})
			return
		}
		refused := func(n int) {
			f.mu.Lock()
			defer f.mu.Unlock()
			now := time.Now()
			for range n {
				f.t.Take(key, now)
			}
		}
		// The turn goes back once the refusals are counted, and even if
		// the handler panics (net/http recovers it).
		defer func() {
			if ticket.done != nil {
				ticket.done()
			}
		}()
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r, refused)
		if isRefusal(sw.status) {
			refused(1)
		}
	}
}

// turnOf takes key's turn and checks, now that the requests before have
// counted their refusals, that the address still has attempts: it returns
// the function that gives the turn back, or the request's refusal.
func (f *refusals) turnOf(ctx context.Context, key string) (func(), error) {
	done := f.take(ctx, key)
	if done == nil {
		return nil, fmt.Errorf("%w: this address's previous transactions are still being checked", ErrOverloaded)
	}
	f.mu.Lock()
	wait := f.t.Wait(key, time.Now())
	f.mu.Unlock()
	if wait > 0 {
		done()
		return nil, &registrar.RetryError{Err: registrar.ErrThrottled, After: wait}
	}
	return done, nil
}

// plain is a handler of one transaction for guard.
func plain(h http.HandlerFunc) func(http.ResponseWriter, *http.Request, func(int)) {
	return func(w http.ResponseWriter, r *http.Request, _ func(int)) { h(w, r) }
}

// statusWriter notes the status a handler answers.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// ClientAddr is the address a request comes from: the connection's remote
// address, or, if header is set (a trusted reverse proxy in front), the
// address that header carries (X-Forwarded-For: its last entry, the one
// the proxy added). An unreadable header falls back to the connection.
func ClientAddr(r *http.Request, header string) netip.Addr {
	if header != "" {
		v := r.Header.Values(header)
		if len(v) > 0 {
			last := v[len(v)-1]
			if strings.EqualFold(header, "X-Forwarded-For") {
				last = last[strings.LastIndexByte(last, ',')+1:]
			}
			if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return a
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a
}

// takeTurn puts a value in turns, the places of a bounded kind of work,
// waiting up to wait for one; the caller takes it back once done. When
// none comes it answers 503 overloaded ("too many <what> at once"), and
// nothing if the client left; either way it reports false.
func takeTurn(w http.ResponseWriter, r *http.Request, turns chan struct{}, wait time.Duration, what string) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case turns <- struct{}{}:
		return true
	case <-t.C:
		WriteError(w, fmt.Errorf("%w: too many %s at once", ErrOverloaded, what))
		return false
	case <-r.Context().Done():
		return false
	}
}
