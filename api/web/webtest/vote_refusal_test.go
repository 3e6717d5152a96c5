//go:build browser

package webtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/node"
)

// The French voting page says every refusal in French, from its error
// code: the registrar's lockout after wrong codes (a real one: five wrong
// codes for one voter id; the page says how long to wait), the node's seq_replay for a vote sent from an
// older copy of the voting data (a real one: the wallet's last seq set
// back), and a code the page does not know (a test proxy in front of the
// node answers the cast 418 "teapot"), which gets a sentence naming the
// node and the status and a button that sends the very same vote again.
// The server's English message is never in the sentence: only folded
// under "Détail technique".
func TestBrowserFrenchVotePageSaysRefusalsInFrenchWithTheServersWordsFolded(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4, App: quickRevotes()})
	proxy := newRefusingNode(t, info.Nodes[0].API)
	page := proxy.URL + "/vote/" + info.Ballot.String() + "?lang=fr"
	b := newBrowser(t)
	tab := b.ctx
	// said returns the alert's sentence (without its folded detail) and
	// the folded detail.
	said := func() (shown, folded string) {
		shown = evalString(t, tab, `(() => { const c = document.getElementById('error').cloneNode(true);
			c.querySelectorAll('details').forEach((d) => d.remove()); return c.textContent })()`)
		folded = evalString(t, tab, `[...document.querySelectorAll('#error details')].map((d) => d.textContent).join('\n')`)
		return shown, folded
	}
	check := func(what, want, english string) {
		t.Helper()
		shown, folded := said()
		if !strings.Contains(shown, want) {
			t.Errorf("%s: the page says %q, want %q", what, shown, want)
		}
		if strings.Contains(shown, english) || !strings.Contains(folded, english) || !strings.Contains(folded, "Détail technique") {
			t.Errorf("%s: the server's words %q are in the sentence, or not folded under Détail technique:\nshown %q\nfolded %q",
				what, english, shown, folded)
		}
	}

	// The registrar locks a voter id out after five wrong codes.
	b.do(tab, "the French voting page", chromedp.Navigate(page), chromedp.WaitEnabled(chromedp.CSS("#login-go")),
		setValue("voter", roll[1].VoterID), setValue("code", "WRONG-CODE"))
	for i := range 8 {
		b.do(tab, "a wrong code", void(chromedp.Evaluate[any](`document.getElementById('error').hidden = true`)),
			chromedp.Click(chromedp.CSS("#login-go")), chromedp.WaitVisible(chromedp.CSS("#error")), chromedp.WaitEnabled(chromedp.CSS("#login-go")))
		if shown, _ := said(); strings.Contains(shown, "Trop de tentatives") || i == 7 {
			break
		}
	}
	b.shot(tab, "vote-throttled-fr")
	check("locked out", "Trop de tentatives pour cet identifiant ou depuis cette connexion (mauvais codes, ou trop de votes en peu de temps). Attendez ",
		"too many attempts (wrong codes")
	if shown, _ := said(); !regexp.MustCompile(`Attendez \d+[\s\x{a0}](secondes?|minutes?),`).MatchString(shown) {
		t.Errorf("locked out: the page does not say how long to wait (the registrar's Retry-After): %q", shown)
	}

	// A vote from an older copy of the voting data: the node has a later
	// cast of this voter key.
	b.do(tab, "vote once", setValue("code", ""))
	b.vote(tab, roll[0], 0, "")
	b.do(tab, "set the voting data's last seq back, as an older copy has it",
		void(chromedp.Evaluate[any](`(() => { const w = JSON.parse(localStorage.getItem('cocorico-wallet'));
			for (const c of Object.values(w.chains)) for (const bl of Object.values(c)) for (const e of Object.values(bl)) e.last_seq = 0;
			localStorage.setItem('cocorico-wallet', JSON.stringify(w)); })()`)),
		chromedp.Navigate(page))
	b.do(tab, "vote again from it", chromedp.WaitEnabled(chromedp.CSS("#login-go")),
		chromedp.SendKeys(chromedp.CSS("#voter"), roll[0].VoterID), chromedp.SendKeys(chromedp.CSS("#code"), roll[0].Code),
		chromedp.Click(chromedp.CSS("#login-go")), chromedp.WaitVisible(chromedp.CSS("#s-choose")),
		chromedp.Click(chromedp.CSS("#choice-1")), chromedp.Click(chromedp.CSS("#choose-go")), chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#error")))
	b.shot(tab, "vote-seq-replay-fr")
	check("seq_replay", "Un vote plus récent de votre part est déjà arrivé sur la chaîne", "seq not higher than the voter's last cast")
	if n := evalString(t, tab, `String(document.querySelectorAll('#error #retry').length)`); n != "0" {
		t.Error("seq_replay: a button offers to send the refused vote again")
	}

	// The node throttles this connection (too many refused casts from
	// it): how long to wait, from the node's Retry-After, and a button to
	// send the vote again then (the confirm button is spent).
	proxy.refuse("/v1/casts", refusal{status: 429, contentType: "application/json", body: apiError("throttled", "too many refused transactions from this address"), retryAfter: "90"})
	b.do(tab, "change the choice, confirm: the node throttles", chromedp.Click(chromedp.CSS("#change")), chromedp.WaitVisible(chromedp.CSS("#s-choose")),
		chromedp.Click(chromedp.CSS("#choice-2")), chromedp.Click(chromedp.CSS("#choose-go")), chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#error #retry")))
	b.shot(tab, "vote-cast-throttled-fr")
	check("throttled", "Trop de votes refusés sont venus de cette connexion. Attendez ", "too many refused transactions")
	if shown, _ := said(); !regexp.MustCompile(`Attendez 2[\s\x{a0}\x{202f}]minutes, puis réessayez, ou votez sur un autre nœud\.`).MatchString(shown) {
		t.Errorf("throttled: the page does not say to wait the node's Retry-After (90 s: 2 minutes): %q", shown)
	}

	// A refusal the page does not know: its status, the node named, and
	// a button that sends the very same vote again.
	proxy.refuse("/v1/casts", refusal{418, "application/json", apiError("teapot", "I am a teapot, not a node"), ""})
	b.do(tab, "change the choice, confirm: the node refuses", chromedp.Click(chromedp.CSS("#change")), chromedp.WaitVisible(chromedp.CSS("#s-choose")),
		chromedp.Click(chromedp.CSS("#choice-2")), chromedp.Click(chromedp.CSS("#choose-go")), chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#error #retry")))
	b.shot(tab, "vote-refusal-unknown-fr")
	host := strings.TrimPrefix(proxy.URL, "http://")
	check("an unknown code", host+" n’a pas accepté votre vote (erreur 418). Réessayez\u00a0; si cela dure, votez sur un autre nœud.",
		"I am a teapot, not a node")
	proxy.refuse("", refusal{})
	b.do(tab, "try again: the vote is counted", chromedp.Click(chromedp.CSS("#retry")), chromedp.WaitVisible(chromedp.CSS("#s-counted")))
	b.shot(tab, "vote-counted-after-refusal-fr")
}

// Opening a file that is not saved voting data (not JSON, or JSON of
// something else) is said in the page's language; the parser's English
// words stay folded under "Détail technique".
func TestBrowserFrenchVotePageSaysAFileIsNotVotingDataInFrench(t *testing.T) {
	info, _ := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	dir := t.TempDir()
	notJSON, notWallet := filepath.Join(dir, "notes.txt"), filepath.Join(dir, "receipt.json")
	os.WriteFile(notJSON, []byte("my voter id and code"), 0o644)
	os.WriteFile(notWallet, []byte(`{"version": 1, "receipt": {}}`), 0o644)
	b := newBrowser(t)
	tab := b.ctx
	b.do(tab, "the French voting page", chromedp.Navigate(info.Nodes[0].API+"/vote/"+info.Ballot.String()+"?lang=fr"),
		chromedp.WaitEnabled(chromedp.CSS("#login-go")), chromedp.Click(chromedp.CSS(".wallet summary")),
		chromedp.WaitVisible(chromedp.CSS("label[for=wallet-import]")))
	for _, c := range []struct{ file, english string }{{notJSON, "JSON"}, {notWallet, "not a wallet"}} {
		b.do(tab, "open "+filepath.Base(c.file), void(chromedp.Evaluate[any](`document.getElementById('wallet-msg').textContent = ''`)),
			chromedp.SetUploadFiles(chromedp.CSS("#wallet-import"), []string{c.file}),
			void(chromedp.Poll[bool](`document.getElementById('wallet-msg').textContent !== ''`, chromedp.WithPollingTimeout(10*time.Second))))
		shown := evalString(t, tab, `(() => { const c = document.getElementById('wallet-msg').cloneNode(true);
			c.querySelectorAll('details').forEach((d) => d.remove()); return c.textContent })()`)
		folded := evalString(t, tab, `[...document.querySelectorAll('#wallet-msg details')].map((d) => d.textContent).join('\n')`)
		if !strings.Contains(shown, "Ce fichier ne contient pas de données de vote enregistrées depuis cette page") ||
			strings.Contains(shown, c.english) || !strings.Contains(folded, c.english) {
			t.Errorf("%s: the page says %q, folded %q", filepath.Base(c.file), shown, folded)
		}
	}
	b.shot(tab, "wallet-not-a-wallet-fr")
}
