//go:build browser

package webtest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/api/web"
	"github.com/cocorico/node/node"
)

// The tags a movement's web person may get wrong, each on a page of its
// own origin: the button must still be drawn where docs/EMBED.md says,
// and the browser console must say what was wrong. The button needs no
// chain: the node here serves its pages only.

const embedBallot = "5f1c0e93a7b24d6c8e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"

// embedNode serves a node's pages (embed.js and the voting page) on an
// origin of its own.
func embedNode(t *testing.T) string {
	t.Helper()
	p, err := web.New(web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := http.NewServeMux()
	p.Register(m)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv.URL
}

// embedSite serves each page of pages (path → the body's HTML, where
// NODE stands for the node's address) on another origin, with a strict
// CSP that lets in the node's script only and a viewport for phones.
func embedSite(t *testing.T, nodeURL string, pages map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		head, body, _ := strings.Cut(strings.ReplaceAll(body, "NODE", nodeURL), "<body>")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src "+nodeURL+"; style-src 'unsafe-inline'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Mouvement citoyen</title>%s</head>
<body><h1>Primaire citoyenne</h1>%s</body></html>`, head, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// console records what the tab's scripts write to the console, as
// "warning: text" or "error: text" lines.
type console struct {
	mu    sync.Mutex
	lines []string
}

func listenConsole(t *testing.T, tab context.Context) *console {
	t.Helper()
	c := &console{}
	err := chromedp.Listen(tab, func(ev any) {
		e, ok := ev.(*runtime.EventConsoleAPICalled)
		if !ok {
			return
		}
		var parts []string
		for _, a := range e.Args {
			var s string
			if json.Unmarshal(a.Value, &s) != nil {
				s = a.Description
			}
			parts = append(parts, s)
		}
		c.mu.Lock()
		c.lines = append(c.lines, string(e.Type)+": "+strings.Join(parts, " "))
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor returns the first line of the given type containing every
// part, or "" when none came within 5 s.
func (c *console) waitFor(typ string, parts ...string) string {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) { // polling the recorded lines
		c.mu.Lock()
		lines := append([]string(nil), c.lines...)
		c.mu.Unlock()
	next:
		for _, l := range lines {
			if !strings.HasPrefix(l, typ+": ") {
				continue
			}
			for _, p := range parts {
				if !strings.Contains(l, p) {
					continue next
				}
			}
			return l
		}
	}
	return ""
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// buttons waits until n buttons are drawn on the page.
func (b *browserSession) buttons(tab context.Context, n int) {
	b.t.Helper()
	b.do(tab, fmt.Sprintf("%d buttons drawn", n),
		void(chromedp.Poll[bool](fmt.Sprintf(`document.querySelectorAll('.cocorico-vote[data-ready]').length === %d`, n),
			chromedp.WithPollingTimeout(10*time.Second))))
}

// hostAfter is the script for "the element right after the script tag
// whose data-NAME is VALUE is a drawn button".
func hostAfter(attr, value string) string {
	q, _ := json.Marshal(`script[data-` + attr + `="` + value + `"]`)
	return `(() => { const h = document.querySelector(` + string(q) + `).nextElementSibling;
		return String(!!h && h.className === 'cocorico-vote' && h.shadowRoot.querySelector('button').offsetWidth > 0) })()`
}

func TestBrowserEmbedDrawsTheButtonForABallotIdInCapitalsAndSaysInTheConsoleWhyItDrawsNoneForAMalformedId(t *testing.T) {
	nodeURL := embedNode(t)
	site := embedSite(t, nodeURL, map[string]string{"/": `<body><p>Votez :</p>
<script src="NODE/embed.js" data-ballot="` + strings.ToUpper(embedBallot) + `" data-lang="fr" async></script>
<script src="NODE/embed.js" data-ballot="` + embedBallot[:63] + `" data-lang="fr" async></script>`})
	b := newBrowser(t)
	logs := listenConsole(t, b.ctx)
	b.do(b.ctx, "open the page", chromedp.Navigate(site))
	b.buttons(b.ctx, 1)
	b.shot(b.ctx, "id-in-capitals")
	if got := evalString(t, b.ctx, hostAfter("ballot", strings.ToUpper(embedBallot))); got != "true" {
		t.Errorf("no button after the tag whose id is in capitals")
	}
	if got := evalString(t, b.ctx, hostAfter("ballot", embedBallot[:63])); got != "false" {
		t.Errorf("a button drawn for a 63-character id")
	}
	if logs.waitFor("error", `data-ballot="`+embedBallot[:63]+`"`, "64 hexadecimal characters") == "" {
		t.Errorf("the console does not say the malformed data-ballot is not 64 hexadecimal characters:\n%s", logs)
	}

	b.do(b.ctx, "click the button", chromedp.Click(chromedp.JSPath(`document.querySelector('.cocorico-vote').shadowRoot.querySelector('button')`)))
	tab := b.newTab("/vote/" + embedBallot)
	if href := evalString(t, tab, `location.href`); href != nodeURL+"/vote/"+embedBallot+"?lang=fr" {
		t.Errorf("the button opened %s, want the voting page of the id in lowercase", href)
	}
}

func TestBrowserEmbedPicksBlackTextOnALightDataColorAndWhiteOnADarkOne(t *testing.T) {
	cases := []struct{ color, text string }{
		{"#fe0", "rgb(0, 0, 0)"},
		{"#FFF8DC", "rgb(0, 0, 0)"},
		{"lightyellow", "rgb(0, 0, 0)"},
		{"#0b4fa8", "rgb(255, 255, 255)"},
		{"#333", "rgb(255, 255, 255)"},
		{"rgb(200 0 0)", "rgb(255, 255, 255)"},
	}
	var tags strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&tags, `<p><script src="NODE/embed.js" data-ballot="%s" data-color="%s" async></script></p>`, embedBallot, c.color)
	}
	site := embedSite(t, embedNode(t), map[string]string{"/": "<body>" + tags.String()})
	b := newBrowser(t)
	b.do(b.ctx, "open the page", chromedp.Navigate(site))
	b.buttons(b.ctx, len(cases))
	b.shot(b.ctx, "colours")
	for _, c := range cases {
		q, _ := json.Marshal(`script[data-color="` + c.color + `"]`)
		got := evalString(t, b.ctx, `getComputedStyle(document.querySelector(`+string(q)+`).nextElementSibling.shadowRoot.querySelector('button')).color`)
		if got != c.text {
			t.Errorf("data-color=%q: text %s, want %s", c.color, got, c.text)
		}
	}
}

func TestBrowserEmbedTargetMatchingNothingOrInvalidStillDrawsTheButtonAfterTheTagAndSaysWhy(t *testing.T) {
	site := embedSite(t, embedNode(t), map[string]string{"/": `<body><p>Votez :</p>
<script src="NODE/embed.js" data-ballot="` + embedBallot + `" data-target="#nowhere" async></script>
<p>et aussi :</p>
<script src="NODE/embed.js" data-ballot="` + embedBallot + `" data-target="##bad" async></script>`})
	b := newBrowser(t)
	logs := listenConsole(t, b.ctx)
	b.do(b.ctx, "open the page", chromedp.Navigate(site))
	b.buttons(b.ctx, 2)
	b.shot(b.ctx, "bad-targets")
	for _, sel := range []string{"#nowhere", "##bad"} {
		if got := evalString(t, b.ctx, hostAfter("target", sel)); got != "true" {
			t.Errorf("data-target=%q: no button right after the tag", sel)
		}
	}
	if logs.waitFor("warning", `data-target="#nowhere"`, "matches no element", "right after the script tag") == "" {
		t.Errorf("no warning that #nowhere matches nothing and where the button went:\n%s", logs)
	}
	if logs.waitFor("error", `data-target="##bad"`, "not a valid CSS selector", "right after the script tag") == "" {
		t.Errorf("no error that ##bad is not a selector and where the button went:\n%s", logs)
	}
}

// A tag in <head> (or before its target) runs while the page is still
// being read: the button waits for the rest of the page, then goes into
// its target, or at the end of <body> when it has none.
func TestBrowserEmbedInHeadWaitsForThePageThenFillsTheTargetOrEndsTheBody(t *testing.T) {
	site := embedSite(t, embedNode(t), map[string]string{
		"/target": `<script src="NODE/embed.js" data-ballot="` + embedBallot + `" data-target="#vote-here"></script>
<body><p>Votez :</p><div id="vote-here"></div><p id="last">Merci</p>`,
		"/none": `<script src="NODE/embed.js" data-ballot="` + embedBallot + `"></script>
<body><p>Votez :</p><p id="last">Merci</p>`,
		"/before": `<body><script src="NODE/embed.js" data-ballot="` + embedBallot + `" data-target="#vote-here"></script>
<p>Votez :</p><div id="vote-here"></div>`,
	})
	b := newBrowser(t)
	for path, where := range map[string]string{
		"/target": `document.querySelector('#vote-here > .cocorico-vote')`,
		"/none":   `document.body.lastElementChild.className === 'cocorico-vote' && document.body.lastElementChild`,
		"/before": `document.querySelector('#vote-here > .cocorico-vote')`,
	} {
		b.do(b.ctx, "open "+path, chromedp.Navigate(site+path))
		b.buttons(b.ctx, 1)
		if got := evalString(t, b.ctx, `String(!!(`+where+`))`); got != "true" {
			t.Errorf("%s: the button is not where docs/EMBED.md says (%s)", path, where)
		}
	}
}

// A long data-label wraps inside the button on a 390 px wide phone and
// the tick keeps its size.
func TestBrowserEmbedLongLabelWrapsInsideTheButtonAndKeepsTheTickWhole(t *testing.T) {
	site := embedSite(t, embedNode(t), map[string]string{"/": `<body><p>Votez :</p>
<script src="NODE/embed.js" data-ballot="` + embedBallot + `" data-label="Je participe à la primaire citoyenne pour désigner notre candidate aux élections" async></script>`})
	b := newBrowser(t)
	b.do(b.ctx, "open the page", chromedp.Navigate(site))
	b.buttons(b.ctx, 1)
	b.shot(b.ctx, "long-label")
	got := evalString(t, b.ctx, `(() => { const btn = document.querySelector('.cocorico-vote').shadowRoot.querySelector('button');
		const svg = btn.querySelector('svg').getBoundingClientRect(), r = btn.getBoundingClientRect();
		const em = parseFloat(getComputedStyle(btn).fontSize);
		return [Math.round(svg.width) === Math.round(1.2 * em), r.right <= innerWidth, r.height > 2 * em,
			document.documentElement.scrollWidth <= innerWidth].join(' ') })()`)
	if got != "true true true true" {
		t.Errorf("tick 1.2em wide, button within the 390 px width, label on several lines, no sideways scroll: %s", got)
	}
}

// A movement's page on its own site shows the results and polls them as
// docs/EMBED.md says: it reads the answer's ETag and sends it back in
// If-None-Match (a preflighted header), and the node answers 304. The
// page's policy lets it talk to the node only (connect-src).
func TestBrowserAMovementsPageOnItsOwnSitePollsTheResultsWithTheirETag(t *testing.T) {
	info, _ := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	nodeURL := info.Nodes[0].API
	script := `(async () => {
  const url = '` + nodeURL + `/v1/ballots/` + info.Ballot.String() + `/results';
  try {
    const first = await fetch(url);
    const results = await first.json();
    const etag = first.headers.get('ETag');
    const again = await fetch(url, {headers: {'If-None-Match': etag}});
    document.body.dataset.polled = JSON.stringify({etag: etag, first: first.status, again: again.status, choices: results.choices.length});
  } catch (e) {
    document.body.dataset.polled = JSON.stringify({error: String(e)});
  }
})();`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; connect-src "+nodeURL)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="fr"><meta charset="utf-8"><title>Résultats</title><body><h1>Résultats</h1><script>%s</script></body></html>`, script)
	}))
	t.Cleanup(srv.Close)
	b := newBrowser(t)
	b.do(b.ctx, "the movement's page polls the node", chromedp.Navigate(srv.URL),
		void(chromedp.Poll[bool](`document.body.dataset.polled !== undefined`, chromedp.WithPollingTimeout(20*time.Second))))
	var got struct {
		ETag                  string `json:"etag"`
		First, Again, Choices int
		Error                 string
	}
	raw := evalString(t, b.ctx, `document.body.dataset.polled`)
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if got.Error != "" || got.ETag == "" || got.First != 200 || got.Again != 304 || got.Choices != 3 {
		t.Fatalf("the page on another site got %s; want the results (200) with their ETag, then 304 to If-None-Match", raw)
	}
}

// docsImages makes the tests that draw a picture shown in docs/ write it
// there (docs/img/), as -update-vectors rewrites the protocol's vectors:
// go test -tags browser ./api/web/webtest -run DocsPicture -docs-images
var docsImages = flag.Bool("docs-images", false, "write the pictures docs/ shows into docs/img/")

// The picture in docs/EMBED.md ("What the voter sees") is the button as
// Chromium draws it in a movement's text: the default one in French and
// one with data-color and data-label in English. The test checks what the
// page says of them — pill-shaped, the default dark blue with white text,
// gold with black text, the tick, the words and what a screen reader
// adds (it opens a new window) — and leaves the picture
// with its screenshots (in docs/img/ with -docs-images).
func TestBrowserEmbedDocsPictureShowsTheDefaultButtonAndOneWithItsOwnColourAndWords(t *testing.T) {
	site := embedSite(t, embedNode(t), map[string]string{"/": `<body><div id="picture" style="padding:12px 16px;width:640px;font:16px/1.5 sans-serif;background:#fff">
<p>La primaire citoyenne est ouverte jusqu'au 15 mars : <script src="NODE/embed.js" data-ballot="` + embedBallot + `" data-lang="fr" async></script></p>
<p>With your own colour and words: <script src="NODE/embed.js" data-ballot="` + embedBallot + `" data-lang="en" data-color="gold" data-label="I take part in the primary" async></script></p>
</div>`})
	b := newBrowser(t)
	b.do(b.ctx, "a viewport wide enough for the picture", chromedp.EmulateViewport(720, 300))
	b.do(b.ctx, "open the page", chromedp.Navigate(site))
	b.buttons(b.ctx, 2)
	got := evalString(t, b.ctx, `[...document.querySelectorAll('.cocorico-vote')].map(h => {
		const btn = h.shadowRoot.querySelector('button'), s = getComputedStyle(btn), r = btn.getBoundingClientRect();
		return [btn.textContent.trim(), s.backgroundColor, s.color, parseFloat(s.borderTopLeftRadius) >= r.height / 2, !!btn.querySelector('svg')].join(' | ')
	}).join('\n')`)
	want := "Je vote (s’ouvre dans une nouvelle fenêtre) | rgb(11, 79, 168) | rgb(255, 255, 255) | true | true\n" +
		"I take part in the primary (opens in a new window) | rgb(255, 215, 0) | rgb(0, 0, 0) | true | true"
	if got != want {
		t.Errorf("the buttons of the picture:\n%s\nwant\n%s", got, want)
	}
	png, err := chromedp.Run(b.ctx, chromedp.Screenshot("#picture"))
	if err != nil {
		t.Fatal(err)
	}
	b.note("embed-button.png", string(png))
	if *docsImages {
		if err := os.WriteFile(filepath.Join("..", "..", "..", "docs", "img", "embed-button.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Without data-lang the button speaks the embedding page's language
// (<html lang>), before the visitor's browser's: this browser is French,
// the page English, the button says "I vote" and opens the English page.
func TestBrowserEmbedWithoutDataLangSpeaksTheEmbeddingPagesLanguage(t *testing.T) {
	nodeURL := embedNode(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>A movement</title></head>
<body><h1>Our primary</h1><script src="%s/embed.js" data-ballot="%s" async></script></body></html>`, nodeURL, embedBallot)
	}))
	t.Cleanup(srv.Close)
	b := newBrowser(t) // French (fr-FR)
	b.do(b.ctx, "open the English page", chromedp.Navigate(srv.URL))
	b.buttons(b.ctx, 1)
	b.shot(b.ctx, "english-page-french-browser")
	if label := evalString(t, b.ctx, `document.querySelector('.cocorico-vote').shadowRoot.querySelector('button').innerText`); !strings.Contains(label, "I vote") {
		t.Errorf("the button on an English page in a French browser says %q, want I vote", label)
	}
}
