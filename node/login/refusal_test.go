package login_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/node/login"
	"github.com/cocorico/node/node/login/logintest"
)

// callback delivers a callback URL (the provider's redirect to the
// registrar) as the browser would, and returns where the registrar sends
// the browser on, or its error answer's API code.
func callback(t *testing.T, u *url.URL) (next *url.URL, code string) {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		next, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		return next, ""
	}
	body, _ := io.ReadAll(resp.Body)
	var e api.ErrorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("callback answered %d: %s", resp.StatusCode, body)
	}
	if e.Error.Code == "throttled" && resp.Header.Get("Retry-After") == "" {
		t.Fatal("throttled without Retry-After")
	}
	return nil, e.Error.Code
}

// Each bad login is refused with a clear error that names the failed
// check, and records nothing: no session, no token.
func TestBadLoginsAreClearRefusalsThatRecordNothing(t *testing.T) {
	w := newWorld(t, registrar.ThrottleConfig{AddressBurst: 1000})
	// The page is told in its fragment: error, error_description.
	viaProvider := func(subject string, f logintest.Fault) url.Values {
		w.provider.SetFault(f)
		defer w.provider.SetFault(logintest.Honest)
		return w.login(subject)
	}
	for name, tc := range map[string]struct {
		subject string
		fault   logintest.Fault
		code    string
		says    string
	}{
		"an expired ID token": {"adult", logintest.Expired, "login_failed", "expired"},
		"a wrong audience":    {"adult", logintest.OtherAudience, "login_failed", "audience"},
		"a wrong nonce":       {"adult", logintest.OtherNonce, "login_failed", "nonce"},
		"an ineligible voter": {"minor", logintest.Honest, "not_eligible", "younger than 18"},
	} {
		t.Run(name, func(t *testing.T) {
			v := viaProvider(tc.subject, tc.fault)
			if v.Get("session") != "" || v.Get("error") != tc.code || !strings.Contains(v.Get("error_description"), tc.says) {
				t.Fatalf("fragment %v, want error %s saying %q", v, tc.code, tc.says)
			}
		})
	}

	// A replayed callback (the very same code and state): the state was
	// taken by the first one.
	w.provider.LogInAs("adult")
	auth, err := w.start(page + "/vote")
	if err != nil {
		t.Fatal(err)
	}
	cb := browse(t, auth, w.url+"/v1/login/callback")
	if next, _ := callback(t, cb); !strings.Contains(next.Fragment, "session=") {
		t.Fatalf("the first callback: %v", next)
	}
	if _, code := callback(t, cb); code != "login_failed" {
		t.Fatalf("a replayed callback: %s", code)
	}
	// The replayed code with a fresh state of the registrar's: the
	// provider refuses to exchange it again.
	auth2, err := w.start(page + "/vote")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := url.Parse(auth2)
	replay := *cb
	q := replay.Query()
	q.Set("state", a2.Query().Get("state"))
	replay.RawQuery = q.Encode()
	next, _ := callback(t, &replay)
	v, _ := url.ParseQuery(next.Fragment)
	if v.Get("error") != "login_failed" || !strings.Contains(v.Get("error_description"), "refused the code") {
		t.Fatalf("a replayed code: %v", v)
	}
	// A state the registrar never issued (a forged or crossed callback).
	forged := *cb
	q = forged.Query()
	q.Set("state", "forged")
	forged.RawQuery = q.Encode()
	if _, code := callback(t, &forged); code != "login_failed" {
		t.Fatalf("a state mismatch: %s", code)
	}
	if n := w.reg.Issued(w.b.ID); n != 0 {
		t.Fatalf("%d tokens issued by refused logins", n)
	}
}

// A registrar that asks for an assurance level (France Connect's
// eidas1) asks it of the provider, refuses an ID token without it and
// takes one with it.
func TestAnIDTokenBelowTheAskedLevelIsRefused(t *testing.T) {
	w := newWorld(t, registrar.ThrottleConfig{}, func(c *login.Config) { c.ACRValues = []string{"eidas1"} })
	w.provider.LogInAs("adult")
	auth, err := w.start(page + "/vote")
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(auth); u.Query().Get("acr_values") != "eidas1" || u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("nonce") == "" {
		t.Fatalf("authorization URL %s", auth)
	}
	next := browse(t, auth, page)
	v, _ := url.ParseQuery(next.Fragment)
	if v.Get("error") != "login_failed" || !strings.Contains(v.Get("error_description"), "acr") || w.reg.Issued(w.b.ID) != 0 {
		t.Fatalf("an ID token without acr eidas1: %v", v)
	}
	w.provider.SetACR("eidas1")
	if v := w.login("adult"); v.Get("session") == "" {
		t.Fatalf("an ID token with acr eidas1: %v", v)
	}
}

// The claims may come signed (a JWT userinfo answer, as France Connect
// gives them): the signature is checked with the provider's keys, and
// the eligibility rules read them as from JSON.
func TestSignedUserinfoIsCheckedAndRead(t *testing.T) {
	w := newWorld(t, registrar.ThrottleConfig{})
	w.provider.SetUserinfo(logintest.UserinfoSigned)
	if v := w.login("adult"); v.Get("session") == "" {
		t.Fatalf("an eligible voter, signed claims: %v", v)
	}
	if v := w.login("minor"); v.Get("error") != "not_eligible" {
		t.Fatalf("an ineligible voter, signed claims: %v", v)
	}
	w.provider.SetUserinfo(logintest.UserinfoForged)
	if v := w.login("adult2"); v.Get("error") != "login_failed" || !strings.Contains(v.Get("error_description"), "signature") {
		t.Fatalf("claims signed with another key: %v", v)
	}
	if n := w.reg.Issued(w.b.ID); n != 0 {
		t.Fatalf("%d tokens issued by logins alone", n)
	}
}

// Return URLs are a page of an allowed origin or a loopback port; the
// login's start is open (CORS) to the allowed origins only.
func TestReturnURLsAndCORSAreRestricted(t *testing.T) {
	w := newWorld(t, registrar.ThrottleConfig{})
	for ret, ok := range map[string]bool{
		page + "/vote":                    true,
		"http://127.0.0.1:45123/callback": true,
		"http://[::1]:45123/callback":     true,
		"https://evil.example/vote":       false,
		"http://vote.example.org/vote":    false, // not the origin: http
		"http://localhost:45123/callback": false, // RFC 8252 §8.3
		"http://127.0.0.1/callback":       false, // no port
		page + "/vote#x":                  false,
		"https://user@vote.example.org/":  false,
	} {
		_, err := w.start(ret)
		if ok != (err == nil) {
			t.Errorf("return URL %s: %v", ret, err)
		}
		if !ok {
			if status, code := api.ErrorCode(registrar.ErrReturnURL); err == nil || !strings.Contains(err.Error(), code) || status != 400 {
				t.Errorf("return URL %s: %v, want %s", ret, err, code)
			}
		}
	}
	for origin, want := range map[string]string{page: page, "https://evil.example": ""} {
		req, _ := http.NewRequest(http.MethodOptions, w.url+"/v1/login/start", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("preflight from %s: allowed %q, want %q", origin, got, want)
		}
		// The start itself: an allowed page reads a 429's Retry-After.
		req, _ = http.NewRequest(http.MethodPost, w.url+"/v1/login/start", strings.NewReader("{}"))
		req.Header.Set("Origin", origin)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, exposed := resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Expose-Headers"); got != want || (want != "") != (exposed == "Retry-After") {
			t.Errorf("a start from %s: allowed %q exposing %q, want %q exposing Retry-After to an allowed origin only", origin, got, exposed, want)
		}
	}
}

// A scripted failing login (a forged state, once a second for ten
// minutes, from one address) is held to the throttle's rate: the burst,
// then one every AddressEvery; the rest are refused before any check.
func TestFailedLoginsAreHeldToTheThrottlesRate(t *testing.T) {
	th := registrar.ThrottleConfig{AddressBurst: 20, AddressEvery: 6 * time.Second}
	w := newWorld(t, th)
	forged, _ := url.Parse(w.url + "/v1/login/callback?state=forged&code=guess")
	counts := map[string]int{}
	const seconds = 600
	for range seconds {
		_, code := callback(t, forged)
		counts[code]++
		w.advance(time.Second)
	}
	want := th.AddressBurst + seconds/int(th.AddressEvery/time.Second)
	t.Logf("%d failing logins at 1/s for %ds: %d checked and refused, %d throttled (burst %d, then one per %v)",
		seconds, seconds, counts["login_failed"], counts["throttled"], th.AddressBurst, th.AddressEvery)
	if got := counts["login_failed"]; got < want-1 || got > want+1 {
		t.Fatalf("%d failing logins checked, want %d±1", got, want)
	}
	// The start of a login from that address, out of attempts, is
	// refused too.
	for _, code := callback(t, forged); code != "throttled"; _, code = callback(t, forged) {
	}
	if _, err := w.start(page + "/vote"); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("a start from a throttled address: %v", err)
	}
}

// One address gets StartBurst starts at once, then one every
// StartEvery (each asks the ballot of the node if not cached and costs a
// random state); a login started before the burst still finishes.
func TestLoginStartsFromOneAddressAreThrottled(t *testing.T) {
	w := newWorld(t, registrar.ThrottleConfig{})
	w.provider.LogInAs("adult")
	victim, err := w.start(page + "/vote")
	if err != nil {
		t.Fatal(err)
	}
	for i := range login.StartBurst - 1 {
		if _, err := w.start(page + "/vote"); err != nil {
			t.Fatalf("start %d of the burst: %v", i, err)
		}
	}
	if _, err := w.start(page + "/vote"); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("a start past the burst: %v, want throttled", err)
	}
	w.advance(login.StartEvery)
	if _, err := w.start(page + "/vote"); err != nil {
		t.Fatalf("a start %v later: %v", login.StartEvery, err)
	}
	back := browse(t, victim, page)
	if v, _ := url.ParseQuery(back.Fragment); v.Get("session") == "" {
		t.Fatalf("the login started before the flood: %s", back)
	}
}

// A login under way is held by its sealed state, not by a table of the
// registrar's: a flood of starts from many addresses, far beyond
// MaxLogins, does not push it out (with stop 31's table of pending
// logins it did: 100 addresses flushed 65,536).
func TestALoginUnderWayOutlivesAFloodOfStartsFromManyAddresses(t *testing.T) {
	const maxLogins = 4
	w := newWorld(t, registrar.ThrottleConfig{}, func(c *login.Config) { c.MaxLogins = maxLogins })
	w.provider.LogInAs("adult")
	victim, err := w.start(page + "/vote")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 * maxLogins {
		from := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
		for range 3 {
			if _, err := w.l.Start(context.Background(), w.b.ID, page+"/vote", from); err != nil {
				t.Fatalf("a start from %s: %v", from, err)
			}
		}
	}
	back := browse(t, victim, page)
	if v, _ := url.ParseQuery(back.Fragment); v.Get("session") == "" {
		t.Fatalf("the login started before the flood: %s", back)
	}
}

// A state is this registrar's and lives LoginTTL: one altered in any
// byte is refused without spending the real one, an expired one is
// refused, a login started before the registrar restarts (a new Login
// with the same configuration) finishes after it, and the state tells the
// provider nothing of the ballot or the page (it is sealed, not signed).
func TestLoginStatesAreSealedExpireAndSurviveARestart(t *testing.T) {
	w := newWorld(t, registrar.ThrottleConfig{AddressBurst: 1000})
	w.provider.LogInAs("adult")
	callbackOf := func() *url.URL {
		auth, err := w.start(page + "/vote")
		if err != nil {
			t.Fatal(err)
		}
		return browse(t, auth, w.url+"/v1/login/callback")
	}
	withState := func(cb *url.URL, state string) *url.URL {
		u := *cb
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
		return &u
	}
	cb := callbackOf()
	state := cb.Query().Get("state")
	raw, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil {
		t.Fatalf("the state is not base64url: %q", state)
	}
	for _, i := range []int{0, 12, 28, 36, 68, len(raw) - 17, len(raw) - 1} { // GCM nonce, r, expiry, ballot, URL, tag
		altered := bytes.Clone(raw)
		altered[i] ^= 1
		if _, code := callback(t, withState(cb, base64.RawURLEncoding.EncodeToString(altered))); code != "login_failed" {
			t.Fatalf("a state altered in byte %d: %q, want login_failed", i, code)
		}
	}
	for _, clear := range [][]byte{w.b.ID[:], []byte("vote.example.org")} {
		if bytes.Contains(raw, clear) {
			t.Fatalf("the state carries %q in clear", clear)
		}
	}
	if _, code := callback(t, withState(cb, state+state)); code != "login_failed" {
		t.Fatalf("a state of another length: %q", code)
	}
	if next, _ := callback(t, cb); next == nil || !strings.Contains(next.Fragment, "session=") {
		t.Fatalf("the real state after the altered ones: %v", next)
	}

	expired := callbackOf()
	w.advance(10 * time.Minute)
	if _, code := callback(t, expired); code != "login_failed" {
		t.Fatalf("a state past its TTL: %q", code)
	}

	cb = callbackOf()
	restarted, err := login.New(w.lc, w.svc)
	if err != nil {
		t.Fatal(err)
	}
	q := cb.Query()
	_, session, _, err := restarted.Finish(context.Background(), q.Get("state"), q.Get("code"), "", netip.MustParseAddr("127.0.0.1"))
	if err != nil || session == "" {
		t.Fatalf("a login started before a restart, finished after it: %q, %v", session, err)
	}
}

// The registrar's status tells a voting page that it logs voters in and
// with which provider (the issuer's host unless named), so the page
// offers "log in with" it instead of the voter id and code form.
func TestStatusNamesTheProviderForTheVotingPage(t *testing.T) {
	for name, want := range map[string]string{"": "", "France Connect": "France Connect"} {
		w := newWorld(t, registrar.ThrottleConfig{}, func(c *login.Config) { c.ProviderName = name })
		if want == "" {
			want = strings.TrimPrefix(w.provider.URL, "http://")
		}
		resp, err := http.Get(w.url + "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		var v registrarapi.StatusView
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil || v.Login == nil || v.Login.Provider != want {
			t.Errorf("status with provider name %q: %+v (%v), want login by %q", name, v, err, want)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("a page on a node's origin cannot read the status")
		}
	}
}
