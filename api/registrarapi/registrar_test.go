package registrarapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
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
	svc   *Service
	reg   *store.Registry
	dir   string
	b     *ballot.Ballot
	now   time.Time
	bals  staticBallots
	voter ed25519.PublicKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), now: time.UnixMilli(5000), bals: staticBallots{}}
	f.open(t)
	if _, err := ImportRoll(f.reg, []registrar.RollEntry{{VoterID: "alice", Code: "A1"}, {VoterID: "bob", Code: "B2"}}, registrar.DemoHashParams); err != nil {
		t.Fatal(err)
	}
	k, err := f.svc.NewKey(ballot.KeyBits2048)
	if err != nil {
		t.Fatal(err)
	}
	e := ballottest.NewElection(ballottest.Options{Opens: 1000, Closes: 9000, Seed: 80})
	e.Def.Registrars = []ballot.Registrar{{Name: "r", Key: k.PublicKey}}
	e.Def.Sign(e.Organizer)
	if f.b, err = e.Def.Check(e.Rules); err != nil {
		t.Fatal(err)
	}
	f.bals[f.b.ID] = f.b
	f.voter = ed25519.PublicKey(bytes.Repeat([]byte{7}, 32))
	return f
}

func (f *fixture) open(t *testing.T) {
	t.Helper()
	reg, err := store.OpenRegistry(f.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.reg = reg
	t.Cleanup(func() { reg.Close() })
	f.svc, err = New(Config{Registry: reg, Ballots: f.bals, Clock: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) request(t *testing.T, voter, code string) (*ballot.TokenRequest, TokenRequest) {
	t.Helper()
	tr, err := ballot.NewTokenRequest(rand.Reader, f.b.Keys[0], f.b.ID, f.voter)
	if err != nil {
		t.Fatal(err)
	}
	return tr, TokenRequest{BallotID: f.b.ID, VoterID: voter, Code: code, Blinded: tr.Blinded}
}

func TestVoterGetsOneValidTokenAndTheCountShowsIt(t *testing.T) {
	f := newFixture(t)
	tr, req := f.request(t, "alice", "A1")
	sig, err := f.svc.IssueToken(context.Background(), req)
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
	f := newFixture(t)
	_, first := f.request(t, "alice", "A1")
	if _, err := f.svc.IssueToken(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		voter, code string
		setup       func()
		want        error
	}{
		"second request": {"alice", "A1", nil, registrar.ErrAlreadyIssued},
		"wrong code":     {"bob", "nope", nil, registrar.ErrWrongCode},
		"unknown voter":  {"mallory", "X", nil, registrar.ErrUnknownVoter},
		"ballot closed":  {"bob", "B2", func() { f.now = time.UnixMilli(9000) }, ballot.ErrBallotClosed},
		"not open yet":   {"bob", "B2", func() { f.now = time.UnixMilli(999) }, ballot.ErrBallotNotOpen},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f.now = time.UnixMilli(5000)
			if tc.setup != nil {
				tc.setup()
			}
			_, req := f.request(t, tc.voter, tc.code)
			if _, err := f.svc.IssueToken(context.Background(), req); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if n := f.reg.Issued(f.b.ID); n != 1 {
				t.Fatalf("issued %d after a refusal, want 1", n)
			}
		})
	}
}

func TestTheSameRequestIsAnsweredAgainWithoutASecondToken(t *testing.T) {
	f := newFixture(t)
	_, req := f.request(t, "bob", "B2")
	a, err := f.svc.IssueToken(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.IssueToken(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || f.reg.Issued(f.b.ID) != 1 {
		t.Fatal("a retried request made a second token")
	}
}

func TestIssuanceAndKeysSurviveARestart(t *testing.T) {
	f := newFixture(t)
	_, req := f.request(t, "alice", "A1")
	if _, err := f.svc.IssueToken(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	f.reg.Close()
	f.open(t)
	if n := f.reg.Issued(f.b.ID); n != 1 {
		t.Fatalf("issued %d after restart", n)
	}
	_, again := f.request(t, "alice", "A1")
	if _, err := f.svc.IssueToken(context.Background(), again); !errors.Is(err, registrar.ErrAlreadyIssued) {
		t.Fatalf("after restart: %v", err)
	}
	_, bob := f.request(t, "bob", "B2")
	if _, err := f.svc.IssueToken(context.Background(), bob); err != nil {
		t.Fatalf("the reloaded key does not sign: %v", err)
	}
}

func TestTokensOfABallotWithoutThisRegistrarsKeyAreRefused(t *testing.T) {
	f := newFixture(t)
	other := ballottest.NewElection(ballottest.Options{Seed: 81}) // its key is not this registrar's
	f.bals[other.Ballot.ID] = other.Ballot
	tr, err := ballot.NewTokenRequest(rand.Reader, &other.Registrar.PublicKey, other.Ballot.ID, f.voter)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.IssueToken(context.Background(), TokenRequest{BallotID: other.Ballot.ID, VoterID: "bob", Code: "B2", Blinded: tr.Blinded})
	if !errors.Is(err, registrar.ErrNotRegistrar) {
		t.Fatalf("got %v", err)
	}
}
