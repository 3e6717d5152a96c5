//go:build browser

package webtest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/node"
)

// layoutJS describes the page's main content by its elements, in order,
// a button-styled link marked: "H1 P P>a.button".
const layoutJS = `[...document.querySelector('main').children].map((e) => e.tagName +
	(e.querySelector('a.button') ? '>a.button' : '')).join(' ')`

// A ballot this node does not know is a dead end laid out as an address
// that is no page: a heading, what to do, and a button to the list of
// ballots (not one bold sentence and a bare link), in both languages, on
// the ballot's page, its voting page and its results page.
func TestBrowserUnknownBallotPageHasAHeadingAnExplanationAndAButtonAsTheNoPagePage(t *testing.T) {
	info, _ := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	nodeURL := info.Nodes[0].API
	unknown := strings.Repeat("ab", 32)
	b := newBrowser(t)
	tab := b.ctx

	b.do(tab, "an address that is no page", chromedp.Navigate(nodeURL+"/nowhere?lang=en"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	want := evalString(t, tab, layoutJS)
	if want != "H1 P P>a.button" {
		t.Fatalf("the page of an address that is no page is laid out %q", want)
	}
	for _, c := range []struct{ lang, path, heading, help string }{
		{"en", "/ballots/" + unknown, "This node does not know this ballot", "The link may be mistyped or cut short"},
		{"fr", "/vote/" + unknown, "Ce nœud ne connaît pas ce scrutin", "Le lien est peut-être mal recopié ou coupé"},
		{"en", "/ballots/" + unknown + "/results", "This node does not know this ballot", "has not reached this node yet"},
	} {
		b.do(tab, c.path+" in "+c.lang, chromedp.Navigate(nodeURL+c.path+"?lang="+c.lang), chromedp.WaitVisible(chromedp.CSS("main h1")))
		b.shot(tab, "unknown-ballot-"+c.lang+"-"+strings.Split(c.path, "/")[1])
		if got := evalString(t, tab, layoutJS); got != want {
			t.Errorf("%s in %s is laid out %q, want %q as the page of an address that is no page", c.path, c.lang, got, want)
		}
		if got := evalString(t, tab, `document.querySelector('main h1').innerText`); got != c.heading {
			t.Errorf("%s in %s: heading %q, want %q", c.path, c.lang, got, c.heading)
		}
		if got := evalString(t, tab, `document.querySelector('main h1 + p').innerText`); !strings.Contains(got, c.help) {
			t.Errorf("%s in %s: explanation %q, want %q in it", c.path, c.lang, got, c.help)
		}
		if got := evalString(t, tab, `document.querySelector('main a.button').getAttribute('href')`); got != "/" {
			t.Errorf("%s in %s: the button leads to %q, want /", c.path, c.lang, got)
		}
	}
}

// The login form sent empty says what to enter ("Enter your voter id."),
// not the field's name and a question mark, in both languages, and puts
// the cursor in the field to fill.
func TestBrowserLoginFormSentEmptySaysWhatToEnter(t *testing.T) {
	info, _ := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	page := info.Nodes[0].API + "/vote/" + info.Ballot.String()
	b := newBrowser(t)
	tab := b.ctx
	for _, c := range []struct{ lang, noVoter, noCode string }{
		{"fr", "Saisissez votre identifiant d’électeur.", "Saisissez votre code."},
		{"en", "Enter your voter id.", "Enter your code."},
	} {
		b.do(tab, "the voting page in "+c.lang, chromedp.Navigate(page+"?lang="+c.lang), chromedp.WaitEnabled(chromedp.CSS("#login-go")),
			chromedp.Click(chromedp.CSS("#login-go")), chromedp.WaitVisible(chromedp.CSS("#error")))
		b.shot(tab, "login-empty-"+c.lang)
		if got := evalString(t, tab, `document.getElementById('error').innerText + '|' + document.activeElement.id`); got != c.noVoter+"|voter" {
			t.Errorf("%s: an empty form says %q, want %q with the cursor in #voter", c.lang, got, c.noVoter)
		}
		b.do(tab, "a voter id and no code", chromedp.SendKeys(chromedp.CSS("#voter"), "voter-0001"), chromedp.Click(chromedp.CSS("#login-go")),
			void(chromedp.Poll[bool](`document.getElementById('error').innerText !== `+strconv.Quote(c.noVoter), chromedp.WithPollingTimeout(10*time.Second))))
		if got := evalString(t, tab, `document.getElementById('error').innerText + '|' + document.activeElement.id`); got != c.noCode+"|code" {
			t.Errorf("%s: a form without its code says %q, want %q with the cursor in #code", c.lang, got, c.noCode)
		}
	}
}
