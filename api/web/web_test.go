package web_test

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cocorico/node/api/web"
	"github.com/cocorico/node/ballot"
)

const ballotID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func newServer(t *testing.T) (*web.Pages, *httptest.Server) {
	t.Helper()
	p, err := web.New(web.Config{Ballot: func(string) (bool, []string) { return true, []string{"https://registrar.example"} }})
	if err != nil {
		t.Fatal(err)
	}
	m := http.NewServeMux()
	p.Register(m)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return p, srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// A transport that does not add Accept-Encoding by itself.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestPagesCarryAStrictContentSecurityPolicy(t *testing.T) {
	_, srv := newServer(t)
	for _, path := range []string{"/", "/ballots/" + ballotID, "/ballots/" + ballotID + "/results", "/vote/" + ballotID, "/check"} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self' 'wasm-unsafe-eval';", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") {
			t.Errorf("%s: CSP allows inline or eval: %q", path, csp)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Access-Control-Allow-Origin": ""} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
		// No inline script, handler or style attribute: the CSP would
		// block them, so none may be needed.
		for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
			if !strings.Contains(m, ` src="/assets/`) && !strings.Contains(m, `type="application/json"`) {
				t.Errorf("%s: inline script %s", path, m)
			}
		}
		if m := regexp.MustCompile(`\son[a-z]+=|\sstyle=`).FindString(body); m != "" {
			t.Errorf("%s: inline handler or style %q", path, m)
		}
	}
	for _, page := range []string{"/vote/", "/ballots/"} {
		path := page + ballotID
		if page == "/ballots/" {
			path += "/results" // asks the registrars their issuance counts
		}
		resp, _ := get(t, srv.URL+path)
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' https://registrar.example;") {
			t.Errorf("%s may reach more than the node and the ballot's registrar: %q", path, csp)
		}
	}
}

func TestEmbedScriptIsServedToAnyOrigin(t *testing.T) {
	_, srv := newServer(t)
	resp, body := get(t, srv.URL+"/embed.js")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "attachShadow") {
		t.Fatalf("embed.js: %s", resp.Status)
	}
	for h, want := range map[string]string{"Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin",
		"Content-Type": "text/javascript; charset=utf-8", "X-Content-Type-Options": "nosniff"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func TestWasmIsServedPrecompressedUnderItsContentHash(t *testing.T) {
	p, srv := newServer(t)
	_, page := get(t, srv.URL+"/vote/"+ballotID)
	path := regexp.MustCompile(`data-wasm="(/assets/cocorico\.[0-9a-f]{16}\.wasm)"`).FindStringSubmatch(page)
	if path == nil {
		t.Fatal("the voting page names no hashed WebAssembly module")
	}
	resp, gz := get(t, srv.URL+path[1], "Accept-Encoding", "br, gzip")
	for h, want := range map[string]string{"Content-Type": "application/wasm", "Content-Encoding": "gzip",
		"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	raw, served := p.WasmSizes()
	t.Logf("WebAssembly client: %d bytes raw, %d bytes gzip as served", raw, served)
	if served != len(gz) || served > 3<<20 {
		t.Errorf("served %d bytes (WasmSizes %d), want under 3 MiB", len(gz), served)
	}
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	resp, plain := get(t, srv.URL+path[1])
	if resp.Header.Get("Content-Encoding") != "" || plain != string(unzipped) || len(plain) != raw {
		t.Errorf("without gzip: %d bytes, encoding %q; want the %d raw bytes", len(plain), resp.Header.Get("Content-Encoding"), raw)
	}
	if !strings.HasPrefix(plain, "\x00asm") {
		t.Error("not a WebAssembly module")
	}
	if resp, _ := get(t, srv.URL+"/assets/cocorico.wasm"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unhashed asset name answers %s, want 404", resp.Status)
	}
}

func TestLanguageComesFromTheQueryThenTheCookieThenAcceptLanguage(t *testing.T) {
	_, srv := newServer(t)
	for _, c := range []struct {
		header []string
		query  string
		want   string
	}{
		{nil, "", "en"},
		{[]string{"Accept-Language", "fr-FR,fr;q=0.9,en;q=0.8"}, "", "fr"},
		{[]string{"Accept-Language", "de, en;q=0.5, fr;q=0.7"}, "", "fr"},
		{[]string{"Accept-Language", "de"}, "", "en"},
		{[]string{"Accept-Language", "fr"}, "?lang=en", "en"},
		{[]string{"Cookie", "lang=fr", "Accept-Language", "en"}, "", "fr"},
	} {
		resp, body := get(t, srv.URL+"/check"+c.query, c.header...)
		if !strings.Contains(body, `<html lang="`+c.want+`">`) || resp.Header.Get("Content-Language") != c.want {
			t.Errorf("%v %s: want %s, Content-Language %q", c.header, c.query, c.want, resp.Header.Get("Content-Language"))
		}
	}
}

func TestEveryMessageTheScriptsUseIsTranslated(t *testing.T) {
	msgs := readMessages(t)
	// Each receipt check has its name, its detail when it passes (cd_) and
	// what its failure means (cf_): the check page shows these, not the
	// module's or the node's English detail (check.js).
	var want []string
	for _, c := range []string{ballot.CheckVersion, ballot.CheckChain, ballot.CheckBallot, ballot.CheckCast, ballot.CheckToken,
		ballot.CheckSignature, ballot.CheckBlockTime, ballot.CheckInclusion, ballot.CheckCommit, "on_chain"} {
		want = append(want, "c_"+c, "cd_"+c, "cf_"+c)
	}
	scripts, _ := filepath.Glob(filepath.Join("assets", "*.js"))
	for _, s := range scripts {
		src, _ := os.ReadFile(s)
		for _, m := range regexp.MustCompile(`\bt[nv]?\('([a-z_]+)'[,)]`).FindAllStringSubmatch(string(src), -1) {
			want = append(want, m[1])
		}
		// The sentences of refusals, chosen from tables by error code
		// (Coco.refusal): every err_ or ce_ key a script names.
		for _, m := range regexp.MustCompile(`'((?:err|ce)_[a-z_]+)'`).FindAllStringSubmatch(string(src), -1) {
			want = append(want, m[1])
		}
	}
	for _, lang := range web.Languages {
		for _, key := range want {
			if msgs[lang][key] == "" {
				t.Errorf("%s: no message %q", lang, key)
			}
		}
		for key := range msgs[web.Languages[0]] {
			if _, ok := msgs[lang][key]; !ok {
				t.Errorf("%s: no message %q", lang, key)
			}
		}
	}
}

// A mistyped ballot link is a voter's dead end unless the page says why
// in her language and leads back to the list of ballots: a heading, what
// to do and a button, as the page of an address that is no page.
func TestAMalformedBallotLinkAnswersA404PageInTheVotersLanguage(t *testing.T) {
	_, srv := newServer(t)
	for _, path := range []string{"/ballots/deadbeef", "/vote/0123", "/ballots/" + strings.ToUpper(ballotID) + "/results"} {
		resp, body := get(t, srv.URL+path, "Accept-Language", "fr")
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %s %s", path, resp.Status, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(body, "<h1>Ce nœud ne connaît pas ce scrutin</h1>") || !strings.Contains(body, "<p>Le lien est peut-être mal recopié") ||
			!strings.Contains(body, `<a class="button" href="/">`) ||
			resp.Header.Get("Content-Security-Policy") == "" || strings.Contains(body, `data-ballot="0123`) {
			t.Errorf("%s: %s", path, body)
		}
	}
}

// A malformed link is that request's 404 only: the same address with a
// well-formed id, asked right after, is the page again, with its
// registrars in its policy (the handler once kept "notfound" for every
// later request of its route).
func TestAMalformedBallotLinkLeavesTheNextRequestsPageAsItWas(t *testing.T) {
	_, srv := newServer(t)
	for _, route := range []struct{ bad, good, page string }{
		{"/vote/x", "/vote/" + ballotID, "vote"},
		{"/ballots/x", "/ballots/" + ballotID, "ballot"},
		{"/ballots/x/results", "/ballots/" + ballotID + "/results", "results"},
	} {
		for range 2 {
			if resp, _ := get(t, srv.URL+route.bad); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("%s: %s, want 404", route.bad, resp.Status)
			}
			resp, body := get(t, srv.URL+route.good)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-page="`+route.page+`"`) {
				t.Fatalf("%s after %s: %s, page %v", route.good, route.bad, resp.Status, regexp.MustCompile(`data-page="[a-z]*"`).FindString(body))
			}
			if route.page != "ballot" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "https://registrar.example") {
				t.Fatalf("%s after %s: policy %q lost the registrar", route.good, route.bad, resp.Header.Get("Content-Security-Policy"))
			}
		}
	}
}

// French puts a non-breaking space before : ; ? ! and » and after «: an
// ordinary one lets the browser end a line with "«" or start one with ":"
// (a phone's narrow column did).
func TestFrenchMessagesKeepTheirPunctuationOnTheLineOfTheWordBefore(t *testing.T) {
	msgs := readMessages(t)
	bad := regexp.MustCompile(` [:;?!»]|« `)
	for key, m := range msgs["fr"] {
		if loc := bad.FindStringIndex(m); loc != nil {
			t.Errorf("fr %s: an ordinary space in %q", key, m[max(0, loc[0]-20):min(len(m), loc[1]+20)])
		}
	}
}

// readMessages reads the pages' messages, by language then key.
func readMessages(t *testing.T) map[string]map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("pages", "i18n.json"))
	if err != nil {
		t.Fatal(err)
	}
	var msgs map[string]map[string]string
	if err := json.Unmarshal(data, &msgs); err != nil {
		t.Fatal(err)
	}
	return msgs
}
