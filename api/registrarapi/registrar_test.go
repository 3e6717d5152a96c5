package registrarapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node/issuer"
	"github.com/cocorico/node/store"
)

type oneBallot struct{ b *ballot.Ballot }

func (o *oneBallot) Ballot(_ context.Context, id consensus.Hash) (*ballot.Ballot, error) {
	if o.b == nil || o.b.ID != id {
		return nil, ballot.ErrUnknownBallot
	}
	return o.b, nil
}

// server serves a real registrar (store, service, handler) with one open
// ballot and voter bob (code B2).
type server struct {
	*httptest.Server
	b *ballot.Ballot
}

func newServer(t *testing.T, cfg registrarapi.Config, th registrar.ThrottleConfig) *server {
	t.Helper()
	reg, err := store.OpenRegistry(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if _, err := issuer.ImportRoll(context.Background(), reg, []registrar.RollEntry{{VoterID: "bob", Code: "B2"}}, registrar.DemoHashParams, rand.Reader); err != nil {
		t.Fatal(err)
	}
	bals := &oneBallot{}
	metrics := prometheus.NewRegistry()
	svc, err := issuer.New(issuer.Config{Registry: reg, Ballots: bals, Throttle: th, Logger: slog.New(slog.DiscardHandler), Metrics: issuer.NewMetrics(metrics)})
	if err != nil {
		t.Fatal(err)
	}
	_, der, err := svc.NewKey(ballot.KeyBits2048)
	if err != nil {
		t.Fatal(err)
	}
	e := ballottest.NewElection(ballottest.Options{Seed: 90})
	e.Def.Registrars = []ballot.Registrar{{Name: "r", Key: der}}
	e.Def.Sign(e.Organizer)
	if bals.b, err = e.Def.Check(e.Rules); err != nil {
		t.Fatal(err)
	}
	cfg.Service, cfg.Gatherer, cfg.Logger = svc, metrics, slog.New(slog.DiscardHandler)
	s := &server{Server: httptest.NewServer(registrarapi.NewHandler(cfg)), b: bals.b}
	t.Cleanup(s.Close)
	return s
}

func (s *server) post(t *testing.T, path, auth string, body any) (*http.Response, string) {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(data))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func (s *server) tokenRequest(t *testing.T, voter, code string) registrarapi.TokenRequest {
	t.Helper()
	tr, err := ballot.NewTokenRequest(rand.Reader, s.b.Keys[0], s.b.ID, ed25519.PublicKey(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return registrarapi.TokenRequest{BallotID: s.b.ID, VoterID: voter, Code: code, Blinded: tr.Blinded}
}

func TestUnknownVoterAndWrongCodeGetTheSameAnswerOverHTTP(t *testing.T) {
	s := newServer(t, registrarapi.Config{}, registrar.ThrottleConfig{})
	unknown, ubody := s.post(t, "/v1/tokens", "", s.tokenRequest(t, "mallory", "guess"))
	wrong, wbody := s.post(t, "/v1/tokens", "", s.tokenRequest(t, "bob", "guess"))
	if unknown.StatusCode != http.StatusForbidden || wrong.StatusCode != unknown.StatusCode || ubody != wbody {
		t.Fatalf("unknown voter: %d %s\nwrong code: %d %s", unknown.StatusCode, ubody, wrong.StatusCode, wbody)
	}
	if !strings.Contains(ubody, `"not_authorized"`) {
		t.Fatalf("answer %s, want code not_authorized", ubody)
	}
}

func TestThrottledRequestsGet429WithRetryAfter(t *testing.T) {
	s := newServer(t, registrarapi.Config{}, registrar.ThrottleConfig{VoterFailures: 1})
	s.post(t, "/v1/tokens", "", s.tokenRequest(t, "bob", "guess"))
	resp, body := s.post(t, "/v1/tokens", "", s.tokenRequest(t, "bob", "B2"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" || !strings.Contains(body, `"throttled"`) {
		t.Fatalf("got %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	m, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Body.Close()
	text, _ := io.ReadAll(m.Body)
	for _, want := range []string{`cocorico_registrar_token_requests_total{result="throttled"} 1`, `cocorico_registrar_lockouts_total{scope="voter"} 1`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAdminEndpointsAreOffWithoutAToken(t *testing.T) {
	off := newServer(t, registrarapi.Config{}, registrar.ThrottleConfig{})
	if resp, body := off.post(t, "/v1/keys", "anything", registrarapi.KeyRequest{AdminToken: ""}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "admin_disabled") {
		t.Fatalf("no token configured: %d %s", resp.StatusCode, body)
	}
	on := newServer(t, registrarapi.Config{AdminToken: "s3cret"}, registrar.ThrottleConfig{})
	for name, tc := range map[string]struct {
		header string
		body   registrarapi.KeyRequest
		want   int
	}{
		"no token":        {"", registrarapi.KeyRequest{}, http.StatusUnauthorized},
		"wrong token":     {"guess", registrarapi.KeyRequest{}, http.StatusUnauthorized},
		"token in header": {"s3cret", registrarapi.KeyRequest{}, http.StatusCreated},
		"token in body":   {"", registrarapi.KeyRequest{AdminToken: "s3cret"}, http.StatusCreated},
	} {
		if resp, body := on.post(t, "/v1/keys", tc.header, tc.body); resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", name, resp.StatusCode, body, tc.want)
		}
	}
}

// Wrong admin tokens are throttled per address: AdminBurst at once, then
// 429 with Retry-After before the token is even compared (the right one
// included), while the operator's own address is not held back.
func TestWrongAdminTokensAreThrottledPerAddress(t *testing.T) {
	on := newServer(t, registrarapi.Config{AdminToken: "the-right-admin-token", ClientIPHeader: "X-Real-IP"}, registrar.ThrottleConfig{})
	post := func(from, token string) (int, string) {
		data, _ := json.Marshal(registrarapi.KeyRequest{})
		r, _ := http.NewRequest(http.MethodPost, on.URL+"/v1/keys", bytes.NewReader(data))
		r.Header.Set("X-Real-IP", from)
		r.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for i := range registrarapi.AdminBurst {
		if code, _ := post("198.51.100.7", fmt.Sprint("guess-", i)); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, code)
		}
	}
	if code, ra := post("198.51.100.7", "the-right-admin-token"); code != http.StatusTooManyRequests || ra == "" {
		t.Fatalf("past the burst, even the right token: %d (Retry-After %q), want 429 with Retry-After", code, ra)
	}
	if code, _ := post("203.0.113.1", "the-right-admin-token"); code != http.StatusCreated {
		t.Fatalf("the operator from another address: %d, want 201", code)
	}
}

// The registrar's CORS is what a voting page needs and no more: the
// token request from any origin (preflight: POST and Content-Type only,
// no credentials; its Retry-After readable), the public reads; nothing
// for the admin endpoint.
func TestRegistrarCORSAllowsTheTokenRequestAndNotTheAdminEndpoint(t *testing.T) {
	h := registrarapi.NewHandler(registrarapi.Config{})
	ask := func(method, path string) http.Header {
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set("Origin", "https://some-node.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Header()
	}
	pre := ask(http.MethodOptions, "/v1/tokens")
	if pre.Get("Access-Control-Allow-Origin") != "*" || pre.Get("Access-Control-Allow-Methods") != "POST" || pre.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("token preflight: %v", pre)
	}
	if got := ask(http.MethodPost, "/v1/tokens").Get("Access-Control-Expose-Headers"); got != "Retry-After" {
		t.Errorf("the token answer exposes %q, want Retry-After (a page says how long a locked-out voter waits)", got)
	}
	if got := ask(http.MethodOptions, "/v1/keys").Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("the admin endpoint allows origin %q", got)
	}
	for _, path := range []string{"/v1/keys", "/metrics", "/v1/nothing"} {
		if got := ask(http.MethodGet, path).Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("GET %s allows origin %q, want no CORS header (public reads only)", path, got)
		}
	}
	srv := newServer(t, registrarapi.Config{}, registrar.ThrottleConfig{})
	for _, path := range []string{"/v1/status", "/v1/ballots/" + strings.Repeat("ab", 32) + "/issuance"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); resp.StatusCode != http.StatusOK || got != "*" {
			t.Errorf("GET %s: %d, allows origin %q; want 200 and * (a public read)", path, resp.StatusCode, got)
		}
	}
}

// The registrar answers an endpoint asked with another method as the node
// does: 405 method_not_allowed with Allow; an unknown path 404.
func TestRegistrarAnswersAnotherMethod405WithAllowAndAnUnknownPath404(t *testing.T) {
	h := registrarapi.NewHandler(registrarapi.Config{})
	for _, c := range []struct {
		method, path, allow string
		status              int
	}{
		{http.MethodGet, "/v1/tokens", "POST", http.StatusMethodNotAllowed},
		{http.MethodPost, "/v1/status", "GET, HEAD", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/v1/keys", "POST", http.StatusMethodNotAllowed},
		{http.MethodGet, "/v1/nothing", "", http.StatusNotFound},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != c.status || w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", c.method, c.path, w.Code, w.Header().Get("Allow"), c.status, c.allow)
		}
	}
}
