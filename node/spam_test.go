package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

// newDefinition makes a definition of the devnet's chain with a local
// registrar key, signed by org.
func newDefinition(g *consensus.Genesis, org ed25519.PrivateKey, question, url string) *ballot.Definition {
	reg := ballottest.RegistrarKey(ballot.KeyBits2048)
	now := time.Now()
	def := &ballot.Definition{ChainID: g.ChainID, GenesisHash: g.Hash(), Question: question,
		Choices: []string{"yes", "no"}, Opens: now.UnixMilli(), Closes: now.Add(time.Hour).UnixMilli(),
		Registrars: []ballot.Registrar{{Name: "r", URL: url, Key: ballot.MarshalRegistrarKey(&reg.PublicKey)}}}
	def.Sign(org)
	return def
}

func waitBallot(t *testing.T, ctx context.Context, n *client.Node, id consensus.Hash) {
	t.Helper()
	for {
		if _, _, err := n.Ballot(ctx, id); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ballot %s never final", id.Short())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// organizerDevnet runs a one-validator devnet and returns a client of its
// node, its genesis and the organizer key its genesis names.
func organizerDevnet(t *testing.T, ctx context.Context) (DevnetInfo, *client.Node, *consensus.Genesis, ed25519.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	info, stop := runDevnet(t, dir, 1, 5)
	t.Cleanup(stop)
	n := client.NewNode(info.Nodes[0].API)
	g, err := n.Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	org, err := LoadKey(filepath.Join(dir, "organizer.key"))
	if err != nil {
		t.Fatal(err)
	}
	return info, n, g, org
}

// Registrar URLs in a definition are attacker data: serving a ballot and
// its results never makes the node request them (server-side request
// forgery). The URL here is a live server on loopback counting requests.
func TestResultsNeverFetchURLsFromDefinitions(t *testing.T) {
	if testing.Short() {
		t.Skip("devnet")
	}
	var hits atomic.Int64
	bait := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer bait.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, n, g, org := organizerDevnet(t, ctx)
	id, err := n.SubmitDefinition(ctx, newDefinition(g, org, "Bait?", bait.URL+"/x"))
	if err != nil {
		t.Fatal(err)
	}
	waitBallot(t, ctx, n, id)
	for range 3 {
		if _, err := n.Results(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := n.VerifiedResults(ctx, g, id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := n.Ballot(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Ballots(ctx); err != nil {
		t.Fatal(err)
	}
	if got := hits.Load(); got != 0 {
		t.Fatalf("the node made %d requests to a URL taken from the chain", got)
	}
}

// Without fees, only the organizers the genesis names create ballots: a
// stranger's well-formed definition is refused at the API (403) and never
// reaches a block; the ballot list is paged.
func TestOnlyGenesisOrganizersCreateBallotsAndTheListIsPaged(t *testing.T) {
	if testing.Short() {
		t.Skip("devnet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, n, g, org := organizerDevnet(t, ctx)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := n.SubmitDefinition(ctx, newDefinition(g, stranger, "Spam?", "")); !client.IsCode(err, "organizer_not_allowed") {
		t.Fatalf("a stranger's definition: %v, want 403 organizer_not_allowed", err)
	}
	var last consensus.Hash
	var err error
	for i := range 4 {
		if last, err = n.SubmitDefinition(ctx, newDefinition(g, org, fmt.Sprintf("Question %d?", i), "")); err != nil {
			t.Fatal(err)
		}
	}
	waitBallot(t, ctx, n, last)
	var seen []consensus.Hash
	before := -1
	for {
		page, err := n.BallotPage(ctx, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 5 || len(page.Ballots) > 2 {
			t.Fatalf("page of %d ballots, total %d; want at most 2 of 5", len(page.Ballots), page.Total)
		}
		for _, b := range page.Ballots {
			seen = append(seen, b.BallotID)
		}
		if page.NextBefore == nil {
			break
		}
		before = *page.NextBefore
	}
	if len(seen) != 5 || seen[0] != last || seen[4] != info.Ballot {
		t.Fatalf("pages gave %d ballots (newest %s, oldest %s); want 5, newest first, the demo ballot last", len(seen), seen[0].Short(), seen[len(seen)-1].Short())
	}
	if _, err := client.NewNode(info.Nodes[0].API).BallotPage(ctx, -1, 1000); !client.IsCode(err, "bad_request") {
		t.Fatalf("a page of 1000: %v, want 400", err)
	}
}

// BenchmarkBallotListOf3000Ballots reports the size of GET /v1/ballots
// (its first page) on a chain of 3,000 ballots (issue 10's figure: 4 MB
// before paging). Run: go test ./node -run '^$' -bench BallotListOf3000 -benchtime 3x
func BenchmarkBallotListOf3000Ballots(b *testing.B) {
	t := &testing.T{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := b.TempDir()
	info, stop := runDevnet(t, dir, 1, 5)
	defer stop()
	n := client.NewNode(info.Nodes[0].API)
	g, err := n.Genesis(ctx)
	if err != nil {
		b.Fatal(err)
	}
	org, err := LoadKey(filepath.Join(dir, "organizer.key"))
	if err != nil {
		b.Fatal(err)
	}
	var last consensus.Hash
	for i := range 2999 {
		if last, err = n.SubmitDefinition(ctx, newDefinition(g, org, fmt.Sprintf("Question %d?", i), "")); err != nil {
			b.Fatal(err)
		}
	}
	waitBallot(t, ctx, n, last)
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Get(info.Nodes[0].API + "/v1/ballots")
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b.ReportMetric(float64(len(body)), "bytes/page")
	}
}
