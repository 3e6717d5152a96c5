package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
)

// refusingBackend is a fake node that refuses every transaction as a
// forged signature and counts what it was asked to check.
type refusingBackend struct {
	Backend // the methods the cast endpoints do not call are left nil
	checked int
}

// Admit takes every request: this node is never behind.
func (b *refusingBackend) Admit() error { return nil }

func (b *refusingBackend) Submit(ctx context.Context, tx []byte) (*ballot.Checked, error) {
	b.checked++
	return nil, ballot.ErrVoterSignature
}

func (b *refusingBackend) SubmitMany(ctx context.Context, txs [][]byte) ([]*ballot.Checked, []error) {
	errs := make([]error, len(txs))
	for i := range txs {
		b.checked++
		errs[i] = ballot.ErrVoterSignature
	}
	return make([]*ballot.Checked, len(txs)), errs
}

func post(t *testing.T, s *Server, path, from string, body any) *httptest.ResponseRecorder {
	t.Helper()
	data, _ := json.Marshal(body)
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(data))
	r.RemoteAddr = from
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

// An address whose casts the node refuses runs out of attempts and is
// answered 429 throttled, before its casts are checked; another address
// is not; a batch costs one attempt per refused cast.
func TestAddressesSendingRefusedCastsAreThrottledWithAFakeRefusingBackend(t *testing.T) {
	b := &refusingBackend{}
	s := New(Config{Backend: b, Refusals: RefusalLimits{Burst: 3, Every: time.Hour}})
	cast := ballot.Cast{Voter: bytes.Repeat([]byte{1}, 32), Seq: 1, TokenPrefix: bytes.Repeat([]byte{2}, 32), Token: bytes.Repeat([]byte{3}, 256), Signature: bytes.Repeat([]byte{4}, 64)}
	for i := range 3 {
		if w := post(t, s, "/v1/casts", "192.0.2.1:1000", cast); w.Code != http.StatusBadRequest {
			t.Fatalf("cast %d: %d %s, want 400 (refused)", i, w.Code, w.Body)
		}
	}
	w := post(t, s, "/v1/casts", "192.0.2.1:1001", cast)
	var e ErrorBody
	json.Unmarshal(w.Body.Bytes(), &e)
	if w.Code != http.StatusTooManyRequests || e.Error.Code != "throttled" || w.Header().Get("Retry-After") == "" {
		t.Fatalf("fourth refused cast: %d %s (Retry-After %q), want 429 throttled with Retry-After", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if b.checked != 3 {
		t.Fatalf("the backend checked %d casts, want 3: a throttled one is not checked", b.checked)
	}
	if w := post(t, s, "/v1/casts", "192.0.2.2:1000", cast); w.Code != http.StatusBadRequest {
		t.Fatalf("another address: %d, want 400 (not throttled)", w.Code)
	}
	// A batch of two refused casts from a third address uses up two of
	// its three attempts; the next batch still goes, the one after not.
	batch := BatchRequest{Casts: []*ballot.Cast{&cast, &cast}}
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		if w := post(t, s, "/v1/casts/batch", "[2001:db8:1:2::5]:1000", batch); w.Code != want {
			t.Fatalf("batch %d: %d %s, want %d", i, w.Code, w.Body, want)
		}
	}
	// The same /64 is the same subscriber.
	if w := post(t, s, "/v1/casts", "[2001:db8:1:2::9]:1000", cast); w.Code != http.StatusTooManyRequests {
		t.Fatalf("another address of the same /64: %d, want 429", w.Code)
	}
}

// A batch of more than MaxBatchCasts casts is refused whole, 413, none
// of its casts checked; as the node decoded them all in vain, each costs
// the address an attempt: sending such batches again is throttled.
func TestABatchOverTheLimitIsRefusedUncheckedAndCostsAnAttemptPerCastWithAFakeRefusingBackend(t *testing.T) {
	b := &refusingBackend{}
	s := New(Config{Backend: b, Refusals: RefusalLimits{Burst: MaxBatchCasts + 1, Every: time.Hour}})
	cast := ballot.Cast{Voter: bytes.Repeat([]byte{1}, 32), Seq: 1, TokenPrefix: bytes.Repeat([]byte{2}, 32), Token: bytes.Repeat([]byte{3}, 256), Signature: bytes.Repeat([]byte{4}, 64)}
	batch := BatchRequest{Casts: make([]*ballot.Cast, MaxBatchCasts+1)}
	for i := range batch.Casts {
		batch.Casts[i] = &cast
	}
	w := post(t, s, "/v1/casts/batch", "192.0.2.1:1000", batch)
	var e ErrorBody
	json.Unmarshal(w.Body.Bytes(), &e)
	if w.Code != http.StatusRequestEntityTooLarge || e.Error.Code != "body_too_large" || b.checked != 0 {
		t.Fatalf("a batch of %d casts: %d %s with %d checked, want 413 body_too_large and none checked", len(batch.Casts), w.Code, w.Body, b.checked)
	}
	if w := post(t, s, "/v1/casts", "192.0.2.1:1000", cast); w.Code != http.StatusTooManyRequests {
		t.Fatalf("a cast after the oversized batch: %d %s, want 429: the batch's %d casts spent the address's %d attempts", w.Code, w.Body, len(batch.Casts), MaxBatchCasts+1)
	}
	if w := post(t, s, "/v1/casts", "192.0.2.2:1000", cast); w.Code != http.StatusBadRequest {
		t.Fatalf("another address: %d, want 400 (not throttled)", w.Code)
	}
}

// Casts the node accepts or answers as replays cost nothing.
func TestAcceptedAndReplayedCastsCostNoAttempt(t *testing.T) {
	aCast := ballot.Cast{Voter: bytes.Repeat([]byte{1}, 32), Seq: 1, TokenPrefix: bytes.Repeat([]byte{2}, 32), Token: bytes.Repeat([]byte{3}, 256), Signature: bytes.Repeat([]byte{4}, 64)}
	for _, err := range []error{nil, ballot.ErrDuplicate, ballot.ErrSeqReplay, ballot.ErrRevoteTooSoon, ballot.ErrOverloaded} {
		s := New(Config{Backend: answering{err: err}, Refusals: RefusalLimits{Burst: 1, Every: time.Hour}})
		want, code := http.StatusAccepted, ""
		if err != nil {
			want, code = ErrorCode(err)
		}
		// With a budget of one, a second counted attempt would be throttled.
		for i := range 3 {
			w := post(t, s, "/v1/casts", "192.0.2.1:1000", aCast)
			var e ErrorBody
			json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != want || e.Error.Code != code {
				t.Fatalf("%v, cast %d: %d %s, want %d %q, never throttled", err, i, w.Code, w.Body, want, code)
			}
		}
	}
}

// answering is a fake node that answers every cast with err.
type answering struct {
	Backend // the methods the cast endpoint does not call are left nil
	err     error
}

// Admit takes every request: the cast gets its answer.
func (a answering) Admit() error { return nil }

func (a answering) Submit(ctx context.Context, tx []byte) (*ballot.Checked, error) {
	if a.err != nil {
		return nil, a.err
	}
	return &ballot.Checked{}, nil
}

func (a answering) SubmitMany(ctx context.Context, txs [][]byte) ([]*ballot.Checked, []error) {
	panic("not called")
}

func TestClientAddrTrustsAHeaderOnlyWhenConfigured(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/v1/tokens", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	r.Header.Set("X-Forwarded-For", "203.0.113.1, 198.51.100.2")
	for header, want := range map[string]string{"": "192.0.2.7", "X-Forwarded-For": "198.51.100.2", "X-Real-IP": "192.0.2.7"} {
		if got := ClientAddr(r, header); got != netip.MustParseAddr(want) {
			t.Errorf("header %q: %v, want %v", header, got, want)
		}
	}
}

// gatedBackend refuses every cast, once its gate is open: the batches
// that reach it wait there together.
type gatedBackend struct {
	Backend
	gate    chan struct{}
	mu      sync.Mutex
	inside  int
	checked int
}

func (b *gatedBackend) Admit() error { return nil }

func (b *gatedBackend) SubmitMany(ctx context.Context, txs [][]byte) ([]*ballot.Checked, []error) {
	b.mu.Lock()
	b.inside++
	b.mu.Unlock()
	<-b.gate
	b.mu.Lock()
	b.checked += len(txs)
	b.mu.Unlock()
	errs := make([]error, len(txs))
	for i := range errs {
		errs[i] = ballot.ErrVoterSignature
	}
	return make([]*ballot.Checked, len(txs)), errs
}

// Batches of refused casts sent at once from one address are checked one
// after the other, each after the refusals of the one before are counted:
// with 3 attempts, five batches of 10 forged casts get the first checked
// (10 refusals) and the four others 429 throttled, not 50 casts checked.
// The gate opens once all five are either inside the backend (what they
// did before) or waiting for the address's turn.
func TestConcurrentBatchesFromOneAddressAreCheckedInTurnAgainstItsAttemptsFakeBackend(t *testing.T) {
	b := &gatedBackend{gate: make(chan struct{})}
	s := New(Config{Backend: b, Refusals: RefusalLimits{Burst: 3, Every: time.Hour}})
	cast := ballot.Cast{Voter: bytes.Repeat([]byte{1}, 32), Seq: 1, TokenPrefix: bytes.Repeat([]byte{2}, 32), Token: bytes.Repeat([]byte{3}, 256), Signature: bytes.Repeat([]byte{4}, 64)}
	batch := BatchRequest{Casts: make([]*ballot.Cast, 10)}
	for i := range batch.Casts {
		batch.Casts[i] = &cast
	}
	codes := make(chan int, 5)
	for range 5 {
		go func() { codes <- post(t, s, "/v1/casts/batch", "192.0.2.9:1000", batch).Code }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		inside := b.inside
		b.mu.Unlock()
		s.refused.mu.Lock()
		waiting := 0
		if tn := s.refused.turns["192.0.2.9"]; tn != nil {
			waiting = tn.users
		}
		s.refused.mu.Unlock()
		if inside == 5 || inside == 1 && waiting == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the five batches never all arrived: %d inside, %d holding or waiting for the turn", inside, waiting)
		}
		time.Sleep(time.Millisecond)
	}
	close(b.gate)
	got := map[int]int{}
	for range 5 {
		got[<-codes]++
	}
	if b.checked != 10 || got[http.StatusOK] != 1 || got[http.StatusTooManyRequests] != 4 {
		t.Fatalf("five concurrent batches of 10 forged casts, 3 attempts: %d casts checked, answers %v; want 10 checked, one 200 and four 429", b.checked, got)
	}
	if len(s.refused.turns) != 0 {
		t.Errorf("%d addresses' turns kept after their requests, want none", len(s.refused.turns))
	}
}
