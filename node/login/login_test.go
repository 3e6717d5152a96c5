package login_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node/issuer"
	"github.com/cocorico/node/node/login"
	"github.com/cocorico/node/node/login/logintest"
	"github.com/cocorico/node/store"
)

// page is the origin of the voting page the registrar serves.
const page = "https://vote.example.org"

// world is a registrar (its real service, store and HTTP face) whose
// login goes to a real OpenID provider running in the test.
type world struct {
	t        *testing.T
	reg      *store.Registry
	svc      *issuer.Service
	b        *ballot.Ballot
	provider *logintest.Provider
	url      string // the registrar's
	l        *login.Login
	lc       login.Config // l's
	mu       sync.Mutex
	now      time.Time
}

type staticBallots map[consensus.Hash]*ballot.Ballot

func (s staticBallots) Ballot(_ context.Context, id consensus.Hash) (*ballot.Ballot, error) {
	if b, ok := s[id]; ok {
		return b, nil
	}
	return nil, ballot.ErrUnknownBallot
}

var users = []logintest.User{
	{Subject: "adult", Birthdate: "1990-05-17", Birthplace: "75056"},
	{Subject: "adult2", Birthdate: "1980-01-01", Birthplace: "69123"},
	{Subject: "minor", Birthdate: "2015-03-02", Birthplace: "75056"},
}

func newWorld(t *testing.T, th registrar.ThrottleConfig, edits ...func(*login.Config)) *world {
	w := &world{t: t, now: time.Now()}
	clock := func() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now }
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { h.ServeHTTP(rw, r) }))
	t.Cleanup(srv.Close)
	w.url = srv.URL
	w.provider = logintest.Start(t, srv.URL+"/v1/login/callback", users)
	var err error
	if w.reg, err = store.OpenRegistry(t.TempDir(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.reg.Close() })
	bals := staticBallots{}
	w.svc, err = issuer.New(issuer.Config{Registry: w.reg, Ballots: bals, HashParams: registrar.DemoHashParams,
		Throttle: th, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, der, err := w.svc.NewKey(ballot.KeyBits2048)
	if err != nil {
		t.Fatal(err)
	}
	e := ballottest.NewElection(ballottest.Options{Opens: w.now.Add(-time.Hour).UnixMilli(), Closes: w.now.Add(24 * time.Hour).UnixMilli(), Seed: 15})
	e.Def.Registrars = []ballot.Registrar{{Name: "r", Key: der}}
	e.Def.Sign(e.Organizer)
	if w.b, err = e.Def.Check(e.Rules); err != nil {
		t.Fatal(err)
	}
	bals[w.b.ID] = w.b
	lc := login.Config{Issuer: w.provider.URL, ClientID: logintest.ClientID, ClientSecret: logintest.ClientSecret,
		RedirectURL: srv.URL + "/v1/login/callback", Scopes: []string{"openid", "profile"}, AllowedOrigins: []string{page},
		Eligibility: registrar.Eligibility{MinAge: 18}, SubjectKey: bytes.Repeat([]byte{42}, 32),
		Clock: clock, Logger: slog.New(slog.DiscardHandler)}
	for _, edit := range edits {
		edit(&lc)
	}
	l, err := login.New(lc, w.svc)
	if err != nil {
		t.Fatal(err)
	}
	w.l, w.lc = l, lc
	h = registrarapi.NewHandler(registrarapi.Config{Service: w.svc, Login: l, Logger: slog.New(slog.DiscardHandler)})
	return w
}

func (w *world) advance(d time.Duration) { w.mu.Lock(); w.now = w.now.Add(d); w.mu.Unlock() }

// start asks the registrar to start a login coming back to the page; it
// returns the provider's authorization URL.
func (w *world) start(returnURL string) (string, error) {
	return client.NewRegistrar(w.url, "").StartLogin(context.Background(), w.b.ID, returnURL)
}

// browse is the voter's browser: it follows redirects from u until one
// leaves for stop (a URL prefix) and returns that URL, unvisited.
func browse(t *testing.T, u, stop string) *url.URL {
	t.Helper()
	var last *url.URL
	hc := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), stop) {
			last = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if last == nil {
		t.Fatalf("the browser stopped at %s (%d): %s", resp.Request.URL, resp.StatusCode, body)
	}
	return last
}

// login runs a whole login as subject and returns what the page gets in
// its fragment.
func (w *world) login(subject string) url.Values {
	w.t.Helper()
	w.provider.LogInAs(subject)
	auth, err := w.start(page + "/vote")
	if err != nil {
		w.t.Fatal(err)
	}
	back := browse(w.t, auth, page)
	v, err := url.ParseQuery(back.Fragment)
	if err != nil || back.RawQuery != "" {
		w.t.Fatalf("the page got %s", back)
	}
	return v
}

func (w *world) token(session string, blinded []byte) ([]byte, error) {
	return client.NewRegistrar(w.url, "").Token(context.Background(), registrarapi.TokenRequest{BallotID: w.b.ID, Session: session, Blinded: blinded})
}

func (w *world) tokenRequest() (*ballot.TokenRequest, ed25519.PublicKey) {
	w.t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	tr, err := ballot.NewTokenRequest(rand.Reader, w.b.Keys[0], w.b.ID, pub)
	if err != nil {
		w.t.Fatal(err)
	}
	return tr, pub
}

func (w *world) blinded() []byte {
	tr, _ := w.tokenRequest()
	return tr.Blinded
}

// A voter logs in, gets one valid token for its session; a second login
// of the same person with another blinded message gets none, and a
// session is used once.
func TestLoginGivesOneTokenPerSubjectPerBallot(t *testing.T) {
	w := newWorld(t, registrar.ThrottleConfig{})
	v := w.login("adult")
	if v.Get("error") != "" || v.Get("session") == "" || v.Get("expires_in") != "300" {
		t.Fatalf("fragment %v", v)
	}
	tr, pub := w.tokenRequest()
	sig, err := w.token(v.Get("session"), tr.Blinded)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tr.Finalize(sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := ballot.VerifyToken(w.b.Keys[0], w.b.ID, pub, tok.Prefix, tok.Signature); err != nil {
		t.Fatal(err)
	}
	if _, err := w.token(v.Get("session"), w.blinded()); !client.IsCode(err, "session_invalid") {
		t.Fatalf("a session used twice: %v", err)
	}
	again := w.login("adult")
	if _, err := w.token(again.Get("session"), w.blinded()); !client.IsCode(err, "already_issued") {
		t.Fatalf("a second token for the same subject: %v", err)
	}
	other := w.login("adult2")
	if _, err := w.token(other.Get("session"), w.blinded()); err != nil {
		t.Fatalf("another person: %v", err)
	}
	if n := w.reg.Issued(w.b.ID); n != 2 {
		t.Fatalf("issued %d, want 2", n)
	}
}
