package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cocorico/node/consensus/canon"
)

// BodyLimits bound the bytes of the transaction bodies the node holds
// while it reads and decodes them (a batch of casts is up to 4 MiB): a
// client that announces a large body and sends it slowly, on many
// connections, would otherwise hold that much memory per connection. A
// request whose body does not fit gets 503 overloaded (retry later)
// before it is read. A body counts for its Content-Length, or for the
// endpoint's limit when it has none (chunked).
type BodyLimits struct {
	// Total bytes of bodies held at once.
	Total int64
	// PerAddress: bytes of bodies from one client address (an IPv6
	// address by its /64) held at once; loopback clients (the operator's
	// tools, a bench) count toward Total only.
	PerAddress int64
}

// DefaultBodyLimits: 64 MiB in all, 8 MiB (two full batches) from one
// address.
var DefaultBodyLimits = BodyLimits{Total: 64 << 20, PerAddress: 8 << 20}

// DefaultSmallBodyLimits bound, apart, the bodies of the endpoints of one
// transaction (a voter's cast, a ballot, a keykeeper's message, a receipt
// to verify: at most smallBodyMax each), so that batches, which relays
// and load tests send, can never take a voter's room: 16 MiB in all,
// 1 MiB from one address (some 250 casts on their way at once: a
// carrier's NAT).
var DefaultSmallBodyLimits = BodyLimits{Total: 16 << 20, PerAddress: 1 << 20}

// smallBodyMax is the largest limit of an endpoint whose bodies count
// toward the small budget (a receipt's 256 KiB).
const smallBodyMax = 256 << 10

// bodyBudget is the state of BodyLimits.
type bodyBudget struct {
	limits BodyLimits
	mu     sync.Mutex
	held   int64
	byAddr map[string]int64 // bytes held per address key
}

func newBodyBudget(l BodyLimits) *bodyBudget { return newBodyBudgetOf(l, DefaultBodyLimits) }

// newBodyBudgetOf is a budget of l, d's values where l's are zero.
func newBodyBudgetOf(l, d BodyLimits) *bodyBudget {
	return &bodyBudget{limits: BodyLimits{Total: cmp.Or(l.Total, d.Total), PerAddress: cmp.Or(l.PerAddress, d.PerAddress)},
		byAddr: map[string]int64{}}
}

// take holds n bytes for the address key (exempt: of no address bound)
// and reports whether they fit. An address that holds nothing may take
// more than PerAddress (within Total): one thing larger than an
// address's share is still served, and only one.
func (b *bodyBudget) take(key string, exempt bool, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	held := b.byAddr[key]
	if b.held+n > b.limits.Total || !exempt && held > 0 && held+n > b.limits.PerAddress {
		return false
	}
	b.held += n
	if !exempt {
		b.byAddr[key] += n
	}
	return true
}

// room reports whether the address key could take anything now (it is
// within its share, and the total within its bound): a request that
// cannot is refused before it does any work.
func (b *bodyBudget) room(key string, exempt bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held < b.limits.Total && (exempt || b.byAddr[key] < b.limits.PerAddress)
}

// give returns what take held.
func (b *bodyBudget) give(key string, exempt bool, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= n
	if !exempt {
		if b.byAddr[key] -= n; b.byAddr[key] <= 0 {
			delete(b.byAddr, key)
		}
	}
}

// bodyTicket is a request's claim on the budget, which ReadJSON uses.
type bodyTicket struct {
	budget *bodyBudget // batches'
	small  *bodyBudget // the one-transaction endpoints' (nil: budget's)
	key    string
	exempt bool
	// turn, if set, takes the address's turn at the checks once the body
	// is read (refusals.guard); done gives it back.
	turn func(context.Context) (func(), error)
	done func()
}

type bodyTicketKey struct{}

func withBodyTicket(r *http.Request, t *bodyTicket) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), bodyTicketKey{}, t))
}

// ReadJSON decodes a request body of at most max bytes into v with the
// protocol's one strict decoder (canon.DecodeJSON, docs/PROTOCOL.md §1):
// oversize bodies are ErrBodyTooLarge (413), refused before they are read
// when their Content-Length says so; unknown fields, trailing data,
// duplicate keys, null and any second form of a value ErrBadRequest
// (400). A transaction endpoint's body is held within the node's
// BodyLimits while it is read and decoded: ErrOverloaded (503) when it
// does not fit. A body of the one form encoding/json writes for it may
// be decoded without canon.DecodeJSON (fastJSON), to the same value.
func ReadJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if r.ContentLength > max {
		CloseUnread(w, r)
		return fmt.Errorf("%w: at most %d bytes", ErrBodyTooLarge, max)
	}
	reserve := func(int64) bool { return true }
	t, ticketed := r.Context().Value(bodyTicketKey{}).(*bodyTicket)
	if ticketed {
		budget := t.budget
		if max <= smallBodyMax && t.small != nil {
			budget = t.small
		}
		var held int64
		reserve = func(n int64) bool {
			if !budget.take(t.key, t.exempt, n) {
				return false
			}
			held += n
			return true
		}
		defer func() { budget.give(t.key, t.exempt, held) }()
	}
	body, err := readBody(w, r, max, reserve)
	if err != nil {
		if errors.Is(err, errNoRoom) {
			CloseUnread(w, r)
			return fmt.Errorf("%w: too many request bodies are being read at once", ErrOverloaded)
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: at most %d bytes", ErrBodyTooLarge, max)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The read timeout's error names the connection's addresses:
			// not for the client.
			return fmt.Errorf("%w: the whole body must arrive within %v of the request", ErrBodyTimeout, ReadTimeout)
		}
		return fmt.Errorf("%w: the body ended early or is malformed", ErrBadRequest)
	}
	if ticketed && t.turn != nil && t.done == nil {
		done, err := t.turn(r.Context())
		if err != nil {
			return err
		}
		t.done = done
	}
	if f, ok := v.(fastJSON); ok && f.decodeFastJSON(body) { // (body is at most max bytes: readBody)
		return nil
	}
	if err := canon.DecodeJSON(body, v, int(max)); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return nil
}

// CloseUnread makes the answer to r, refused before its body is read,
// end the connection at once: net/http otherwise reads and discards up to
// 256 KiB of the body before it answers and again once the handler
// returns, so a client that announced a body and sends nothing would get
// its refusal, and free the connection, only at the read timeout (15 s).
func CloseUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	w.Header().Set("Connection", "close")
	// Reading what is left of the body now fails at once (a writer
	// that cannot say so leaves it to the read timeout).
	http.NewResponseController(w).SetReadDeadline(time.Now())
}

// bodyChunk is the room a body takes before its first bytes are read;
// it doubles as they arrive.
const bodyChunk = 4 << 10

// errNoRoom: the body's next bytes found no room within the BodyLimits.
var errNoRoom = errors.New("no room for the body")

// readBody reads a body of at most max bytes into a buffer that grows as
// the bytes arrive (4 KiB, then doubling, up to its Content-Length when
// it has one), each growth first reserved (errNoRoom if not): a client
// that announces a large body and sends it slowly holds about what it
// sent, at most twice that, not what it announced.
func readBody(w http.ResponseWriter, r *http.Request, max int64, reserve func(n int64) bool) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, max)
	limit := max
	if r.ContentLength >= 0 {
		limit = r.ContentLength
	}
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) == limit {
				// All of it: with a Content-Length the body ends here; a
				// chunked one must end too (MaxBytesReader refuses more).
				var one [1]byte
				for {
					n, err := rd.Read(one[:])
					switch {
					case n > 0:
						return nil, &http.MaxBytesError{Limit: limit}
					case err == io.EOF:
						return buf, nil
					case err != nil:
						return nil, err
					}
				}
			}
			grow := int64(cap(buf))
			if grow < bodyChunk {
				grow = bodyChunk
			}
			grow = min(grow, limit-int64(cap(buf)))
			if !reserve(grow) {
				return nil, errNoRoom
			}
			nb := make([]byte, len(buf), int64(cap(buf))+grow)
			copy(nb, buf)
			buf = nb
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF && (r.ContentLength < 0 || int64(len(buf)) == limit):
			return buf, nil
		case err == io.EOF:
			return nil, io.ErrUnexpectedEOF
		case err != nil:
			return nil, err
		}
	}
}
