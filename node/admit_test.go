package node

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

// Once AdmitPending transactions wait, the API's casts are answered 503
// overloaded before any check (one or a batch), while gossip still adds
// to the mempool up to its own bound.
func TestAPIClientsAreToldOverloadedWhileAdmitPendingTransactionsWait(t *testing.T) {
	g, _ := ballottest.Validators("admit-chain", 1, 3)
	_, key, _ := ed25519.GenerateKey(nil) // not a validator: nothing drains the mempool
	n, err := New(Config{Home: Home(t.TempDir()), Genesis: g, Key: key, AdmitPending: 3,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.ledger.Close()
	for i := range 3 {
		if err := n.pool.Add(&ballot.Checked{ID: consensus.Hash{byte(i + 1)}, Bytes: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	garbage := []byte("not even a transaction")
	_, err = n.Submit(context.Background(), garbage)
	if status, code := api.ErrorCode(err); !errors.Is(err, ballot.ErrOverloaded) || status != 503 || code != "overloaded" {
		t.Fatalf("one cast with 3 pending: %v (%d %s), want 503 overloaded", err, status, code)
	}
	_, errs := n.SubmitMany(context.Background(), [][]byte{garbage, garbage})
	for i, err := range errs {
		if !errors.Is(err, ballot.ErrOverloaded) {
			t.Fatalf("batch item %d: %v, want overloaded", i, err)
		}
	}
	// Below the bound, the same bytes get their real verdict.
	n.pool.Remove([]consensus.Hash{{1}})
	if _, err := n.Submit(context.Background(), garbage); err == nil || errors.Is(err, ballot.ErrOverloaded) {
		t.Fatalf("with 2 pending: %v, want the transaction's own refusal", err)
	}
	// Gossip is not held back by AdmitPending.
	n.pool.Add(&ballot.Checked{ID: consensus.Hash{9}, Bytes: []byte{9}})
	if _, errs := n.app.SubmitMany(context.Background(), [][]byte{garbage}); errors.Is(errs[0], ballot.ErrOverloaded) {
		t.Fatal("gossip refused as overloaded below the mempool's bound")
	}
}

// While AdmitPending transactions wait, POST /v1/casts and
// /v1/casts/batch are answered 503 overloaded with Retry-After before
// their body is read: a body that is not even JSON gets the same 503 (it
// would get 400 once read), and the connection stays open for the
// client's next request when the body was small. Below the bound the same
// bodies get 400.
func TestAnOverloadedNodeRefusesCastsOverHTTPBeforeReadingTheirBody(t *testing.T) {
	g, _ := ballottest.Validators("admit-chain", 1, 3)
	_, key, _ := ed25519.GenerateKey(nil) // not a validator: nothing drains the mempool
	n, err := New(Config{Home: Home(t.TempDir()), Genesis: g, Key: key, AdmitPending: 2,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.ledger.Close()
	srv := httptest.NewServer(n.api.Handler())
	defer srv.Close()
	var conns atomic.Int32
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conns.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	post := func(path string) (int, string, string) {
		resp, err := client.Post(srv.URL+path, "application/json", strings.NewReader("{not json"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb api.ErrorBody
		json.NewDecoder(resp.Body).Decode(&eb)
		return resp.StatusCode, eb.Error.Code, resp.Header.Get("Retry-After")
	}
	for _, path := range []string{"/v1/casts", "/v1/casts/batch"} {
		if status, code, _ := post(path); status != 400 {
			t.Fatalf("%s below the bound: %d %s, want 400 (the body read)", path, status, code)
		}
	}
	for i := range 2 {
		if err := n.pool.Add(&ballot.Checked{ID: consensus.Hash{byte(i + 1)}, Bytes: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	before := conns.Load()
	for _, path := range []string{"/v1/casts", "/v1/casts/batch", "/v1/casts/batch"} {
		if status, code, ra := post(path); status != 503 || code != "overloaded" || ra != "1" {
			t.Fatalf("%s with 2 pending: %d %s Retry-After %q, want 503 overloaded, Retry-After 1, the body unread", path, status, code, ra)
		}
	}
	if got := conns.Load() - before; got != 0 {
		t.Errorf("%d new connections for 3 refused requests with small bodies, want 0 (kept alive)", got)
	}
}
