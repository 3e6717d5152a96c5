package node

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot/ballottest"
)

// TestBallotStatusIsClosedAtTheClosingTimeNotAtTheNextBlock: the API
// judges upcoming, open and closed by the node's clock, so a ballot reads
// "closed" at its closing time though no block has come since; an
// open-tally ballot reads "tallied" once a final block's time is past the
// closing (its counts can no longer change).
func TestBallotStatusIsClosedAtTheClosingTimeNotAtTheNextBlock(t *testing.T) {
	g, keys := ballottest.Validators("status-chain", 4, 5)
	genesis := g.GenesisTime.UnixMilli()
	opens, closes := genesis+60_000, genesis+3_600_000
	e := ballottest.NewElection(ballottest.Options{Genesis: g, Opens: opens, Closes: closes, Seed: 11})
	var mu sync.Mutex
	clock := time.UnixMilli(genesis + 1000)
	setClock := func(ms int64) { mu.Lock(); clock = time.UnixMilli(ms); mu.Unlock() }
	_, key, _ := ed25519.GenerateKey(nil)
	n, err := New(Config{Home: Home(t.TempDir()), Genesis: g, Key: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer n.ledger.Close()
	ctx := context.Background()
	commitAt := func(ms int64) {
		t.Helper()
		h, _, _ := n.app.Tip()
		b, err := n.app.ProposeBlock(ctx, h+1, 0, time.UnixMilli(ms))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.app.ApplyBlock(ctx, b, ballottest.Commit(g.Chain(), keys, &b.Header, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.app.Submit(ctx, e.DefinitionTx().Bytes); err != nil {
		t.Fatal(err)
	}
	commitAt(genesis + 1000) // the last block for a while
	srv := httptest.NewServer(n.api.Handler())
	defer srv.Close()
	status := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			Status string `json:"status"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return v.Status
	}
	check := func(when string, want string) {
		t.Helper()
		for _, path := range []string{"/v1/ballots/" + e.Ballot.ID.String(), "/v1/ballots/" + e.Ballot.ID.String() + "/results"} {
			if got := status(path); got != want {
				t.Fatalf("%s: GET %s says %q, want %q", when, path, got, want)
			}
		}
	}
	check("before opening", api.StatusUpcoming)
	setClock(opens)
	check("at opening, no block since", api.StatusOpen)
	setClock(closes)
	check("at closing, no block since", api.StatusClosed)
	commitAt(closes)
	check("once a final block is at the closing time", api.StatusTallied)
}
