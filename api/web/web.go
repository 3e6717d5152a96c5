package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Config configures the pages.
type Config struct {
	// Ballot reports whether this node knows ballot ballotID (its
	// definition is final here) and, if so, the origins
	// (scheme://host[:port]) of its registrars: the pages of a ballot it
	// does not know answer 404 with the "unknown ballot" page, and the
	// voting and results pages' Content-Security-Policy lets them reach
	// those origins and this node only. Nil: every well-formed id is
	// served, and the pages reach this node only.
	Ballot func(ballotID string) (known bool, registrarOrigins []string)
	// Missing answers a request for an asset that does not exist (a
	// stale or mistyped /assets/ name): the server's own "not found" (a
	// page for a browser, the API's JSON error for a program). Nil: a
	// plain 404.
	Missing http.HandlerFunc
}

// Pages serves the citizen's pages and their assets.
type Pages struct {
	cfg    Config
	assets *assets
	msgs   map[string]map[string]string
	pages  map[string]*template.Template
}

// Languages are the pages' languages; the first is the default.
var Languages = []string{"en", "fr"}

// pageScripts lists each page's scripts after common.js.
var pageScripts = map[string][]string{
	"index":   {"ballot.js", "node.js"},
	"ballot":  {"ballot.js"},
	"vote":    {"wasm_exec.js", "wallet.js", "login.js", "vote.js"},
	"check":   {"wasm_exec.js", "check.js"},
	"results": {"wasm_exec.js", "results.js"},
	// notfound answers a ballot address whose id is not one (a mistyped
	// link) or names a ballot this node does not know: the reason in the
	// voter's language and the way to the list.
	"notfound": nil,
	// nopage answers a browser's request for an address that is no page.
	"nopage": nil,
}

// New loads the embedded pages and assets.
func New(cfg Config) (*Pages, error) {
	a, err := sharedAssets()
	if err != nil {
		return nil, err
	}
	p := &Pages{cfg: cfg, assets: a, pages: map[string]*template.Template{}}
	data, err := pageFS.ReadFile("pages/i18n.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &p.msgs); err != nil {
		return nil, fmt.Errorf("pages/i18n.json: %w", err)
	}
	funcs := template.FuncMap{"asset": a.path}
	for name := range pageScripts {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(pageFS, "pages/layout.html", "pages/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.pages[name] = t
	}
	return p, nil
}

// Register adds the pages' routes to m. The JSON API keeps /v1.
func (p *Pages) Register(m *http.ServeMux) {
	m.HandleFunc("GET /{$}", p.page("index"))
	m.HandleFunc("GET /ballots/{id}", p.page("ballot"))
	m.HandleFunc("GET /ballots/{id}/results", p.page("results"))
	m.HandleFunc("GET /vote/{id}", p.page("vote"))
	m.HandleFunc("GET /check", p.page("check"))
	// The list of ballots is the home page: /ballots (a shortened
	// ballot address) leads there.
	m.HandleFunc("GET /ballots", p.toHome)
	m.HandleFunc("GET /ballots/{$}", p.toHome)
	m.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header(), "default-src 'none'")
		x := p.assets.byPlain["favicon.svg"]
		w.Header().Set("Content-Type", x.ctype)
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Write(x.data)
	})
	m.HandleFunc("GET /embed.js", p.embed)
	m.HandleFunc("GET /assets/{name}", func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header(), "default-src 'none'")
		missing := p.cfg.Missing
		if missing == nil {
			missing = http.NotFound
		}
		p.assets.serve(w, r, missing)
	})
}

// toHome sends the browser to the home page, in the language asked.
func (p *Pages) toHome(w http.ResponseWriter, r *http.Request) {
	to := "/"
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// NotFound answers a browser's request for an address that is no page
// (a mistyped or shortened link): a page in the visitor's language that
// says so, with the way to the list of ballots, status 404.
func (p *Pages) NotFound(w http.ResponseWriter, r *http.Request) {
	p.serve(w, r, "nopage", "", nil, http.StatusNotFound)
}

// WantsPage reports whether r is a browser's navigation (it accepts
// HTML), which NotFound answers, rather than a program's request, which
// gets the API's JSON error.
func WantsPage(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// WasmSizes returns the WebAssembly client's size raw and as served (gzip).
func (p *Pages) WasmSizes() (raw, served int) {
	x := p.assets.byPlain["cocorico.wasm"]
	return x.rawBytes, len(x.data)
}

var hexID = regexp.MustCompile(`^[0-9a-f]{64}$`)

type pageData struct {
	Lang     string
	Page     string
	Scripts  []string
	BallotID string
	T        map[string]string
	// Switch is this page's address in the other language.
	Switch string
}

func (p *Pages) page(route string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// name is this request's own: the handler serves every request
		// of its route, at once (a bad id once made it "notfound" for
		// all the requests after it).
		name, id, status := route, r.PathValue("id"), http.StatusOK
		var origins []string
		if name == "ballot" || name == "vote" || name == "results" {
			known := hexID.MatchString(id)
			if known && p.cfg.Ballot != nil {
				known, origins = p.cfg.Ballot(id)
			}
			if !known {
				name, id, status, origins = "notfound", "", http.StatusNotFound, nil
			}
		}
		p.serve(w, r, name, id, origins, status)
	}
}

// serve writes page name (of ballot id, if any, whose registrars are at
// origins) with status.
func (p *Pages) serve(w http.ResponseWriter, r *http.Request, name, id string, origins []string, status int) {
	lang := p.language(w, r)
	connect := "'self'"
	switch name {
	case "vote", "results":
		// The voting page asks the registrars for a token, the
		// results page for their issuance counts.
		for _, o := range origins {
			connect += " " + o
		}
	case "check":
		// The voter may ask any other node whether the cast counts.
		connect += " https: http:"
	}
	h := w.Header()
	securityHeaders(h, "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob:; "+
		"connect-src "+connect+"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Language", lang)
	h.Set("Vary", "Accept-Language, Cookie")
	q := r.URL.Query()
	q.Set("lang", p.msgs[lang]["switch_lang_code"])
	d := pageData{Lang: lang, Page: name, Scripts: append([]string{"common.js"}, pageScripts[name]...),
		BallotID: id, T: p.msgs[lang], Switch: "?" + q.Encode()}
	w.WriteHeader(status)
	if err := p.pages[name].Execute(w, d); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// language picks the page's language: ?lang= (remembered in a cookie),
// else the cookie, else the first of Languages in Accept-Language.
func (p *Pages) language(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); p.msgs[l] != nil {
		http.SetCookie(w, &http.Cookie{Name: "lang", Value: l, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode})
		return l
	}
	if c, err := r.Cookie("lang"); err == nil && p.msgs[c.Value] != nil {
		return c.Value
	}
	return fromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// fromAcceptLanguage returns the known language the header prefers most
// (RFC 9110 §12.5.4), or the default.
func fromAcceptLanguage(header string) string {
	best, bestQ := Languages[0], 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				continue
			}
		}
		for _, l := range Languages {
			if base == l && q > bestQ {
				best, bestQ = l, q
			}
		}
	}
	return best
}

// securityHeaders are on every page and asset.
func securityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// embed serves the button's script: to any site (CORS and
// Cross-Origin-Resource-Policy allow it), cached for five minutes so that
// a fix reaches every embedding page soon.
func (p *Pages) embed(w http.ResponseWriter, r *http.Request) {
	x := p.assets.byPlain["embed.js"]
	h := w.Header()
	securityHeaders(h, "default-src 'none'")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	w.Write(x.data)
}

// Origin returns the scheme://host[:port] of a registrar URL, or "" when
// it is not an http(s) URL.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
