package issuer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

// staticBallots stands in for a node: it serves fixed ballots (the
// registrar's own logic and store are the real ones).
type staticBallots map[consensus.Hash]*ballot.Ballot

func (s staticBallots) Ballot(_ context.Context, id consensus.Hash) (*ballot.Ballot, error) {
	if b, ok := s[id]; ok {
		return b, nil
	}
	return nil, ballot.ErrUnknownBallot
}

type fixture struct {
	svc    *Service
	reg    *store.Registry
	dir    string
	b      *ballot.Ballot
	now    time.Time
	bals   staticBallots
	voter  ed25519.PublicKey
	cfg    Config
	checks int // slow hashes run
}

var addrA = netip.MustParseAddr("192.0.2.1")

// closes is the test ballot's closing time (Unix ms): hours after now.
const closes = 1e8

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), now: time.UnixMilli(5000), bals: staticBallots{}, cfg: cfg}
	f.open(t)
	if _, err := ImportRoll(context.Background(), f.reg, []registrar.RollEntry{{VoterID: "alice", Code: "A1"}, {VoterID: "bob", Code: "B2"}}, registrar.DemoHashParams, rand.Reader); err != nil {
		t.Fatal(err)
	}
	_, der, err := f.svc.NewKey(ballot.KeyBits2048)
	if err != nil {
		t.Fatal(err)
	}
	e := ballottest.NewElection(ballottest.Options{Opens: 1000, Closes: closes, Seed: 80})
	e.Def.Registrars = []ballot.Registrar{{Name: "r", Key: der}}
	e.Def.Sign(e.Organizer)
	if f.b, err = e.Def.Check(e.Rules); err != nil {
		t.Fatal(err)
	}
	f.bals[f.b.ID] = f.b
	f.voter = ed25519.PublicKey(bytes.Repeat([]byte{7}, 32))
	return f
}

func (f *fixture) open(t testing.TB) {
	t.Helper()
	reg, err := store.OpenRegistry(f.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.reg = reg
	t.Cleanup(func() { reg.Close() })
	cfg := f.cfg
	cfg.Registry, cfg.Ballots, cfg.HashParams = reg, f.bals, registrar.DemoHashParams
	cfg.Clock = func() time.Time { return f.now }
	cfg.Logger = slog.New(slog.DiscardHandler)
	if f.svc, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if f.svc.onCheck == nil {
		f.svc.onCheck = func(int) { f.checks++ }
	}
}

func (f *fixture) request(t *testing.T, voter, code string) (*ballot.TokenRequest, registrar.Request) {
	t.Helper()
	tr, err := ballot.NewTokenRequest(rand.Reader, f.b.Keys[0], f.b.ID, f.voter)
	if err != nil {
		t.Fatal(err)
	}
	return tr, registrar.Request{Ballot: f.b.ID, VoterID: voter, Code: code, Blinded: tr.Blinded}
}

func (f *fixture) issue(req registrar.Request) ([]byte, error) {
	return f.svc.IssueToken(context.Background(), req, addrA)
}

func TestVoterGetsOneValidTokenAndTheCountShowsIt(t *testing.T) {
	f := newFixture(t, Config{})
	tr, req := f.request(t, "alice", "A1")
	sig, err := f.issue(req)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tr.Finalize(sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := ballot.VerifyToken(f.b.Keys[0], f.b.ID, f.voter, tok.Prefix, tok.Signature); err != nil {
		t.Fatal(err)
	}
	if n := f.reg.Issued(f.b.ID); n != 1 {
		t.Fatalf("issued %d, want 1", n)
	}
}

func TestRefusalsAreClearAndRecordNothing(t *testing.T) {
	f := newFixture(t, Config{})
	_, first := f.request(t, "alice", "A1")
	if _, err := f.issue(first); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		voter, code string
		setup       func()
		want        error
	}{
		"second request": {"alice", "A1", nil, registrar.ErrAlreadyIssued},
		"wrong code":     {"bob", "nope", nil, registrar.ErrNotAuthorized},
		"unknown voter":  {"mallory", "X", nil, registrar.ErrNotAuthorized},
		"ballot closed":  {"bob", "B2", func() { f.now = time.UnixMilli(closes) }, ballot.ErrBallotClosed},
		"not open yet":   {"bob", "B2", func() { f.now = time.UnixMilli(999) }, ballot.ErrBallotNotOpen},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f.now = time.UnixMilli(5000)
			if tc.setup != nil {
				tc.setup()
			}
			_, req := f.request(t, tc.voter, tc.code)
			if _, err := f.issue(req); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if n := f.reg.Issued(f.b.ID); n != 1 {
				t.Fatalf("issued %d after a refusal, want 1", n)
			}
		})
	}
}

func TestTheSameRequestIsAnsweredAgainWithoutASecondToken(t *testing.T) {
	f := newFixture(t, Config{})
	_, req := f.request(t, "bob", "B2")
	a, err := f.issue(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.issue(req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || f.reg.Issued(f.b.ID) != 1 {
		t.Fatal("a retried request made a second token")
	}
	_, other := f.request(t, "bob", "B2")
	if _, err := f.issue(other); !errors.Is(err, registrar.ErrAlreadyIssued) {
		t.Fatalf("a second blinded message for the same voter: %v, want %v", err, registrar.ErrAlreadyIssued)
	}
}

func TestIssuanceAndKeysSurviveARestart(t *testing.T) {
	f := newFixture(t, Config{})
	_, req := f.request(t, "alice", "A1")
	if _, err := f.issue(req); err != nil {
		t.Fatal(err)
	}
	f.reg.Close()
	f.open(t)
	if n := f.reg.Issued(f.b.ID); n != 1 {
		t.Fatalf("issued %d after restart", n)
	}
	_, again := f.request(t, "alice", "A1")
	if _, err := f.issue(again); !errors.Is(err, registrar.ErrAlreadyIssued) {
		t.Fatalf("after restart: %v", err)
	}
	_, bob := f.request(t, "bob", "B2")
	if _, err := f.issue(bob); err != nil {
		t.Fatalf("the reloaded key does not sign: %v", err)
	}
}

func TestTokensOfABallotWithoutThisRegistrarsKeyAreRefused(t *testing.T) {
	f := newFixture(t, Config{})
	other := ballottest.NewElection(ballottest.Options{Seed: 81}) // its key is not this registrar's
	f.bals[other.Ballot.ID] = other.Ballot
	tr, err := ballot.NewTokenRequest(rand.Reader, &other.Registrar.PublicKey, other.Ballot.ID, f.voter)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.issue(registrar.Request{Ballot: other.Ballot.ID, VoterID: "bob", Code: "B2", Blinded: tr.Blinded})
	if !errors.Is(err, registrar.ErrNotRegistrar) {
		t.Fatalf("got %v", err)
	}
}

// A blinded message of the key's size but not below its modulus cannot be
// signed (RFC 9474 §4.2): the refusal must leave the voter free to ask
// again with a well-formed one.
func TestMalformedBlindedMessageDoesNotBurnTheVotersToken(t *testing.T) {
	f := newFixture(t, Config{})
	n := f.b.Keys[0].N.FillBytes(make([]byte, f.b.Keys[0].Size()))
	for name, blinded := range map[string][]byte{
		"all 0xff":    bytes.Repeat([]byte{0xff}, f.b.Keys[0].Size()),
		"the modulus": n,
	} {
		_, err := f.issue(registrar.Request{Ballot: f.b.ID, VoterID: "alice", Code: "A1", Blinded: blinded})
		if !errors.Is(err, ballot.ErrMalformed) {
			t.Fatalf("%s: got %v, want %v", name, err, ballot.ErrMalformed)
		}
	}
	if n := f.reg.Issued(f.b.ID); n != 0 {
		t.Fatalf("a refused request recorded %d issuance(s)", n)
	}
	_, req := f.request(t, "alice", "A1")
	if _, err := f.issue(req); err != nil {
		t.Fatalf("the voter's token was burnt: %v", err)
	}
}

// An unknown voter id and a wrong code must be one answer at one cost:
// the same error, and one slow hash each.
func TestUnknownVoterAndWrongCodeGetTheSameAnswer(t *testing.T) {
	f := newFixture(t, Config{})
	var errs []error
	for _, voter := range []string{"mallory", "bob"} {
		before := f.checks
		_, req := f.request(t, voter, "guess")
		_, err := f.issue(req)
		if f.checks-before != 1 {
			t.Fatalf("%s: %d slow hashes, want 1", voter, f.checks-before)
		}
		errs = append(errs, err)
	}
	if !errors.Is(errs[0], registrar.ErrNotAuthorized) || errs[0].Error() != errs[1].Error() {
		t.Fatalf("unknown voter: %v; wrong code: %v", errs[0], errs[1])
	}
	if f.svc.decoy.Params != registrar.DemoHashParams {
		t.Fatalf("the decoy costs %+v, the roll's hashes %+v", f.svc.decoy.Params, registrar.DemoHashParams)
	}
}

func TestWrongCodesAreLockedOutPerVoterAndThrottledPerAddress(t *testing.T) {
	th := registrar.ThrottleConfig{VoterFailures: 3, AddressBurst: 5, AddressEvery: time.Minute}
	f := newFixture(t, Config{Throttle: th})
	wantThrottled := func(err error, after time.Duration) {
		t.Helper()
		var re *registrar.RetryError
		if !errors.As(err, &re) || !errors.Is(err, registrar.ErrThrottled) || re.After != after {
			t.Fatalf("got %v, want throttled for %v", err, after)
		}
	}
	// Per voter: the third wrong code locks alice out, from any address,
	// even with the right code, and before any slow hash.
	for i := range 3 {
		_, req := f.request(t, "alice", "guess")
		if _, err := f.svc.IssueToken(context.Background(), req, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})); !errors.Is(err, registrar.ErrNotAuthorized) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	checks := f.checks
	_, right := f.request(t, "alice", "A1")
	_, err := f.svc.IssueToken(context.Background(), right, netip.MustParseAddr("203.0.113.9"))
	wantThrottled(err, time.Minute)
	if f.checks != checks {
		t.Fatal("a locked-out voter's code was hashed")
	}
	f.now = f.now.Add(time.Minute)
	if _, err := f.issue(right); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	// Per address: five wrong codes for five voter ids empty addrA's
	// bucket; a sixth, for bob with the right code, waits a minute. Bob
	// from another address is served.
	for i := range 5 {
		_, req := f.request(t, "nobody-"+string(rune('a'+i)), "guess")
		if _, err := f.issue(req); !errors.Is(err, registrar.ErrNotAuthorized) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	_, bob := f.request(t, "bob", "B2")
	_, err = f.issue(bob)
	wantThrottled(err, time.Minute)
	if _, err := f.svc.IssueToken(context.Background(), bob, netip.MustParseAddr("2001:db8::1")); err != nil {
		t.Fatalf("bob from another address: %v", err)
	}
}

// A right code costs the slow hash too: a voter id gets VoterChecks of
// them at once (re-asking for its token, or for another one), then one
// every VoterChecksEvery, refused before the hash, from any address;
// another voter is not held back.
func TestRepeatedRightCodesOfOneVoterAreThrottledBeforeTheHash(t *testing.T) {
	f := newFixture(t, Config{Throttle: registrar.ThrottleConfig{VoterChecks: 3, VoterChecksEvery: 10 * time.Second}})
	_, req := f.request(t, "alice", "A1")
	for i := range 3 {
		if _, err := f.issue(req); err != nil {
			t.Fatalf("right code %d: %v", i, err)
		}
	}
	checks := f.checks
	var re *registrar.RetryError
	_, other := f.request(t, "alice", "A1")
	if _, err := f.svc.IssueToken(context.Background(), other, netip.MustParseAddr("203.0.113.9")); !errors.As(err, &re) || !errors.Is(err, registrar.ErrThrottled) || re.After != 10*time.Second {
		t.Fatalf("a fourth right code at once, from another address: %v, want throttled for 10s", err)
	}
	if f.checks != checks {
		t.Fatal("a throttled right code was hashed")
	}
	_, bob := f.request(t, "bob", "B2")
	if _, err := f.issue(bob); err != nil {
		t.Fatalf("another voter: %v", err)
	}
	f.now = f.now.Add(10 * time.Second)
	if _, err := f.issue(req); err != nil {
		t.Fatalf("10 s later: %v", err)
	}
}

// countingBallots counts the registrar's questions to its node.
type countingBallots struct {
	staticBallots
	asked int
}

func (c *countingBallots) Ballot(ctx context.Context, id consensus.Hash) (*ballot.Ballot, error) {
	c.asked++
	return c.staticBallots.Ballot(ctx, id)
}

// A ballot id the node does not know costs the address an attempt: past
// the burst, random ids are refused as throttled before the registrar
// asks its node; known ballots are answered from the cache meanwhile.
func TestUnknownBallotIdsAreThrottledPerAddressBeforeTheNodeIsAsked(t *testing.T) {
	f := newFixture(t, Config{Throttle: registrar.ThrottleConfig{AddressBurst: 3, AddressEvery: time.Minute}})
	_, req := f.request(t, "alice", "A1")
	if _, err := f.issue(req); err != nil { // the ballot is now cached
		t.Fatal(err)
	}
	node := &countingBallots{staticBallots: f.bals}
	f.svc.cfg.Ballots = node
	for i := range 3 {
		unknown := req
		unknown.Ballot = consensus.Hash{byte(i + 1)}
		if _, err := f.issue(unknown); !errors.Is(err, ballot.ErrUnknownBallot) {
			t.Fatalf("unknown ballot %d: %v", i, err)
		}
	}
	unknown := req
	unknown.Ballot = consensus.Hash{9}
	if _, err := f.issue(unknown); !errors.Is(err, registrar.ErrThrottled) || node.asked != 3 {
		t.Fatalf("a fourth unknown ballot: %v, the node asked %d times, want throttled and 3", err, node.asked)
	}
	_, bob := f.request(t, "bob", "B2")
	if _, err := f.svc.IssueToken(context.Background(), bob, netip.MustParseAddr("203.0.113.5")); err != nil {
		t.Fatalf("a known ballot from another address: %v", err)
	}
}

// stuckBallots answers the registrar's questions only once released,
// counting them.
type stuckBallots struct {
	asked   atomic.Int32
	release chan struct{}
}

func (s *stuckBallots) Ballot(ctx context.Context, id consensus.Hash) (*ballot.Ballot, error) {
	s.asked.Add(1)
	<-s.release
	return nil, fmt.Errorf("%w: %s", ballot.ErrUnknownBallot, id)
}

// Unknown ballot ids sent at once from one address are charged only when
// the node answers: at most MaxAsking of them are asked together, the
// others throttled at once (not 40 node lookups for a burst of 20).
func TestUnknownBallotIdsSentAtOnceAskTheNodeAtMostMaxAskingAtATime(t *testing.T) {
	f := newFixture(t, Config{})
	_, req := f.request(t, "alice", "A1")
	node := &stuckBallots{release: make(chan struct{})}
	f.svc.cfg.Ballots = node
	const requests = 3 * MaxAsking
	results := make(chan error, requests)
	for i := range requests {
		unknown := req
		unknown.Ballot = consensus.Hash{byte(i + 1)}
		go func() { _, err := f.issue(unknown); results <- err }()
	}
	throttled := 0
	for range requests - MaxAsking {
		if err := <-results; errors.Is(err, registrar.ErrThrottled) {
			throttled++
		}
	}
	close(node.release)
	for range MaxAsking {
		if err := <-results; !errors.Is(err, ballot.ErrUnknownBallot) {
			t.Fatalf("an id asked: %v, want unknown_ballot", err)
		}
	}
	if n := node.asked.Load(); n != MaxAsking || throttled != requests-MaxAsking {
		t.Fatalf("the node asked %d times, %d throttled; want %d and %d", n, throttled, MaxAsking, requests-MaxAsking)
	}
}

// releasedBallots answers the registrar's questions from its ballots
// only once released, counting them.
type releasedBallots struct {
	staticBallots
	asked   atomic.Int32
	release chan struct{}
}

func (r *releasedBallots) Ballot(ctx context.Context, id consensus.Hash) (*ballot.Ballot, error) {
	r.asked.Add(1)
	<-r.release
	return r.staticBallots.Ballot(ctx, id)
}

// The first token requests of a new ballot, sent at once from one
// address (a bench; voters behind one NAT), wait for one lookup of the
// ballot: the node is asked once and none of them is throttled, though
// they are three times MaxAsking (CI's bench failed on 429 when each
// request made its own lookup).
func TestRequestsForABallotBeingLookedUpJoinThatLookupUnthrottled(t *testing.T) {
	const requests = 3 * MaxAsking
	f := newFixture(t, Config{MaxChecks: requests})
	var roll []registrar.RollEntry
	for i := range requests {
		roll = append(roll, registrar.RollEntry{VoterID: fmt.Sprint("v", i), Code: "C"})
	}
	if _, err := ImportRoll(context.Background(), f.reg, roll, registrar.DemoHashParams, rand.Reader); err != nil {
		t.Fatal(err)
	}
	node := &releasedBallots{staticBallots: f.bals, release: make(chan struct{})}
	f.svc.cfg.Ballots = node
	joined := make(chan struct{}, requests)
	f.svc.onJoin = func() { joined <- struct{}{} }
	f.svc.onCheck = func(int) {} // the fixture's counter is not for concurrent checks
	results := make(chan error, requests)
	for _, e := range roll {
		_, req := f.request(t, e.VoterID, e.Code)
		go func() { _, err := f.issue(req); results <- err }()
	}
	for range requests - 1 {
		select {
		case <-joined:
		case err := <-results:
			t.Fatalf("a request answered before the node: %v", err)
		}
	}
	close(node.release)
	for range requests {
		if err := <-results; err != nil {
			t.Fatalf("a request for a ballot being looked up: %v", err)
		}
	}
	if n := node.asked.Load(); n != 1 {
		t.Fatalf("the node was asked %d times, want once", n)
	}
}

// 20 concurrent wrong codes with 2 check slots: never more than 2 slow
// hashes (each MemKiB of memory) at once; the others are refused as
// overloaded with a Retry-After once the wait is over, not queued.
func TestConcurrentWrongCodesAreBoundedInMemory(t *testing.T) {
	const slots, requests = 2, 20
	f := newFixture(t, Config{MaxChecks: slots, CheckWait: 10 * time.Millisecond})
	entered, release := make(chan int, requests), make(chan struct{})
	f.svc.onCheck = func(inFlight int) {
		entered <- inFlight
		<-release
	}
	results := make(chan error, requests)
	for i := range requests {
		_, req := f.request(t, "bob", "guess")
		go func() {
			// Distinct addresses: the address throttle is not what is tested.
			_, err := f.svc.IssueToken(context.Background(), req, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
			results <- err
		}()
	}
	for range slots {
		if n := <-entered; n > slots {
			t.Fatalf("%d hashes in flight, bound %d", n, slots)
		}
	}
	for range requests - slots {
		err := <-results
		var re *registrar.RetryError
		if !errors.Is(err, registrar.ErrOverloaded) || !errors.As(err, &re) || re.After <= 0 {
			t.Fatalf("a request beyond the slots: %v, want overloaded with a retry time", err)
		}
	}
	close(release)
	for range slots {
		if err := <-results; !errors.Is(err, registrar.ErrNotAuthorized) {
			t.Fatalf("a checked wrong code: %v", err)
		}
	}
	select {
	case n := <-entered:
		t.Fatalf("a request beyond the slots was hashed (%d in flight)", n)
	default:
	}
}
