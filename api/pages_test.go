package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// A browser that follows a mistyped or shortened link (an address that is
// no page nor endpoint, an asset that does not exist) reads a page in its
// language that says so, 404;
// a program asking the same address, or any unknown /v1 address, gets the
// API's JSON error; /ballots, which a visitor may type to find the list,
// leads to the home page, keeping the language asked; /favicon.ico is an
// icon, not an error.
func TestAMistypedAddressGivesABrowserAPageInItsLanguageAndAProgramTheJSONError(t *testing.T) {
	srv := httptest.NewServer(New(Config{State: &slowState{}}).Handler())
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, accept string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, path := range []string{"/nothing-here?lang=fr", "/vote/?lang=fr", "/ballot/abc?lang=fr", "/assets/cocorico.0000000000000000.wasm?lang=fr"} {
		resp, body := get(path, browser)
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "Il n’y a pas de page à cette adresse") || !strings.Contains(body, `href="/"`) {
			t.Errorf("a browser at %s: %d %s, want 404 and the French page with a link home:\n%.300s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("a browser at %s: the page has no strict CSP: %q", path, csp)
		}
	}
	for _, c := range []struct{ path, accept string }{{"/nothing-here", ""}, {"/nothing-here", "application/json"}, {"/v1/nothing", browser},
		{"/assets/cocorico.0000000000000000.wasm", ""}} {
		resp, body := get(c.path, c.accept)
		var e ErrorBody
		if resp.StatusCode != http.StatusNotFound || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "not_found" {
			t.Errorf("%s with Accept %q: %d %.200s, want 404 and the JSON error not_found", c.path, c.accept, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/ballots", "/ballots/"} {
		resp, _ := get(path+"?lang=fr", browser)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?lang=fr" {
			t.Errorf("%s: %d to %q, want 303 to /?lang=fr", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, body := get("/favicon.ico", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(body, "<svg") {
		t.Errorf("/favicon.ico: %d %s, want the SVG icon", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// oneBallotState knows one ballot (the methods the pages do not call are
// left nil).
type oneBallotState struct {
	State
	id consensus.Hash
}

func (s oneBallotState) BallotAt(id consensus.Hash) (*ballot.Ballot, uint64, bool, error) {
	if id != s.id {
		return nil, 0, false, nil
	}
	return &ballot.Ballot{ID: id, Def: &ballot.Definition{}}, 1, true, nil
}

// A ballot's pages (its page, the vote, the results) for a well-formed id
// this node does not know answer 404 with the page that says so in the
// visitor's language, as a malformed id does; a known ballot's are 200.
func TestTheBallotPagesOfABallotThisNodeDoesNotKnowAre404WithTheUnknownBallotPage(t *testing.T) {
	known := consensus.Sum([]byte("known"))
	srv := httptest.NewServer(New(Config{State: oneBallotState{id: known}}).Handler())
	defer srv.Close()
	unknown := consensus.Sum([]byte("unknown"))
	for _, p := range []string{"/ballots/%s", "/vote/%s", "/ballots/%s/results"} {
		for _, c := range []struct {
			id     consensus.Hash
			status int
		}{{known, http.StatusOK}, {unknown, http.StatusNotFound}} {
			path := fmt.Sprintf(p, c.id) + "?lang=fr"
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("%s: %d, want %d", path, resp.StatusCode, c.status)
			}
			says := strings.Contains(string(body), "<h1>Ce nœud ne connaît pas ce scrutin")
			if says != (c.status == http.StatusNotFound) {
				t.Errorf("%s: says the ballot is unknown: %v, want %v", path, says, !says)
			}
		}
	}
}
