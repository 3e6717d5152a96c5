package api

import (
	"cmp"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/cocorico/node/ballot/registrar"
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
// (ballot/registrar.Buckets, as the registrar's throttle of wrong codes
// has). It also holds the budget of the transactions' bodies
// (BodyLimits).
type refusals struct {
	header string
	mu     sync.Mutex
	t      *registrar.Buckets
	bodies *bodyBudget
}

func newRefusals(l RefusalLimits, b BodyLimits) *refusals {
	d := DefaultRefusalLimits
	return &refusals{header: l.ClientIPHeader, bodies: newBodyBudget(b),
		t: registrar.NewBuckets(cmp.Or(l.Burst, d.Burst), cmp.Or(l.Every, d.Every), cmp.Or(l.Entries, d.Entries))}
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
func (f *refusals) guard(h func(w http.ResponseWriter, r *http.Request, refused func(n int))) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		addr := ClientAddr(r, f.header)
		key := registrar.AddressKey(addr)
		r = withBodyTicket(r, &bodyTicket{budget: f.bodies, key: key, exempt: addr.Unmap().IsLoopback()})
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
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r, refused)
		if isRefusal(sw.status) {
			refused(1)
		}
	}
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
