package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocorico/node/api"
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
		if _, err := n.VerifiedResults(ctx, g, id, 0, nil); err != nil {
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

// floodChecked sends requests that fail their checks from 8 goroutines
// (send reports whether the node checked one, false when it was throttled)
// until some are throttled, and holds the refusal bucket to its bounds,
// whatever the machine's speed: the first DefaultRefusalLimits.Burst are
// all checked, and no more are checked than the burst and what the time
// spent earned back (one every Every).
func floodChecked(t *testing.T, what string, send func() (checked bool)) {
	t.Helper()
	limits := api.DefaultRefusalLimits
	var checked, throttled atomic.Int64
	start := time.Now()
	for sent := 0; throttled.Load() == 0; sent += 8 * 25 {
		if sent > 20*limits.Burst {
			t.Fatalf("%d %ss sent, none throttled", sent, what)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					if send() {
						checked.Add(1)
					} else {
						throttled.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if sent == 0 && checked.Load() < int64(min(limits.Burst, 200)) {
			t.Fatalf("only %d of the first 200 %ss were checked, want all: the burst is %d", checked.Load(), what, limits.Burst)
		}
	}
	earned := int64(time.Since(start) / limits.Every)
	if got, most := checked.Load(), int64(limits.Burst)+earned+1; got > most {
		t.Fatalf("%d %ss checked, %d throttled: more than the burst %d and the %d earned back", got, what, throttled.Load(), limits.Burst, earned)
	}
}

// Forged casts are free to make and cost the node two signature checks
// each: a client address that sends them to a real node runs out of
// attempts (DefaultRefusalLimits: 200) and is answered 429 throttled
// before its casts are read, while a voter on another address votes as
// usual. Tampered receipts sent for checking cost their address the same
// way. The forgers dial from 127.0.0.2 and 127.0.0.3, the voter from
// 127.0.0.1.
func TestForgedCastsAndReceiptsFromOneAddressAreThrottledWhileAnotherAddressVotes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	info, stop := runDevnet(t, dir, 1, 5)
	t.Cleanup(stop)
	g, err := client.NewNode(info.Nodes[0].API).Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	from := func(ip net.IP) *http.Client {
		return &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext}}
	}
	forger := from(net.IPv4(127, 0, 0, 2))
	send := func() (int, string) {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		c := &ballot.Cast{BallotID: info.Ballot, Seq: 1, TokenPrefix: make([]byte, 32), Token: make([]byte, 256)}
		rand.Read(c.Token)
		c.Sign(g.Chain(), key)
		body, _ := json.Marshal(c)
		resp, err := forger.Post(info.Nodes[0].API+"/v1/casts", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e api.ErrorBody
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error.Code
	}
	floodChecked(t, "forged cast", func() bool {
		switch status, code := send(); {
		case status == http.StatusBadRequest:
			return true
		case status == http.StatusTooManyRequests && code == "throttled":
			return false
		default:
			t.Fatalf("forged cast: %d %s, want 400 (refused after its checks) or 429 throttled", status, code)
			return false
		}
	})
	roll := readRoll(t, info.Voters)
	w, err := client.OpenWallet(filepath.Join(dir, "wallet.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Vote(ctx, client.VoteRequest{Node: client.NewNode(info.Nodes[0].API), Registrar: client.NewRegistrar(info.Registrar, ""),
		BallotID: info.Ballot, VoterID: roll[0].VoterID, Code: roll[0].Code, Choice: "for", Wallet: w, Rand: rand.Reader,
		Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("a voter on another address: %v", err)
	}

	// A receipt with its choice changed fails its offline checks.
	tampered, cast := *res.Receipt, *res.Receipt.Cast
	cast.Choice = (cast.Choice + 1) % 3
	tampered.Cast = &cast
	body, _ := json.Marshal(&tampered)
	checker := from(net.IPv4(127, 0, 0, 3))
	verify := func(hc *http.Client, body []byte) (int, string, bool) {
		resp, err := hc.Post(info.Nodes[0].API+"/v1/receipts/verify", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			Valid bool            `json:"valid"`
			Error api.ErrorDetail `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v.Error.Code, v.Valid
	}
	floodChecked(t, "tampered receipt", func() bool {
		switch status, code, valid := verify(checker, body); {
		case status == http.StatusOK && !valid:
			return true
		case status == http.StatusTooManyRequests && code == "throttled":
			return false
		default:
			t.Fatalf("tampered receipt: %d %s valid=%v, want 200 and not valid, or 429 throttled", status, code, valid)
			return false
		}
	})
	real, _ := json.Marshal(res.Receipt)
	if status, code, valid := verify(http.DefaultClient, real); status != http.StatusOK || !valid {
		t.Fatalf("the voter's own receipt from another address: %d %s valid=%v", status, code, valid)
	}
}

// A gossiped batch costs its forwarder score only for what the forwarder
// could have known: a keykeeper message refused for what this node's
// state lacks (an answer whose complaint is not final here yet) is not
// its fault; one refused for what it says (a complaint against an open
// ballot) is.
func TestAKeykeeperMessageAheadOfThisNodesStateIsNoForwardersFault(t *testing.T) {
	ahead := fmt.Errorf("keykeeper 1: %w: no complaint of keykeeper 0 to answer (%w)", ballot.ErrKeykeeperInvalid, ballot.ErrNotInStateYet)
	if forwarderFault(ahead) {
		t.Errorf("%v: counted against the forwarder", ahead)
	}
	if wrong := fmt.Errorf("tx x: %w: ballot y", ballot.ErrKeykeeperInvalid); !forwarderFault(wrong) {
		t.Errorf("%v: not counted against the forwarder", wrong)
	}
}
