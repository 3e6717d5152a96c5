//go:build browser

package webtest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cocorico/node/node"
)

// The check page in French shows every line in French: no detail of the
// module's nine checks nor of the node's own check in English, for a
// valid receipt and for a tampered one (whose failed checks the verdict
// counts right); a cast the node does not know
// gets a sentence that says what to do and a button to check again.
func TestBrowserFrenchCheckPageShowsNoEnglishDetail(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodeURL := info.Nodes[0].API
	res := cliVote(t, ctx, info, nodeURL, roll[0], "for")
	// The English details the module and the node write for this receipt.
	var english []string
	for _, c := range res.Checks.Checks {
		english = append(english, c.Detail)
	}
	english = append(english, "is on this node's chain", "passed", "missing")

	b := newBrowser(t)
	tab := b.ctx
	b.do(tab, "the French check page of the receipt", chromedp.Navigate(nodeURL+"/check?lang=fr&cast="+res.CastID.String()),
		void(chromedp.Poll[bool](`document.body.dataset.checked === 'valid' && document.querySelectorAll('#online li').length === 1`,
			chromedp.WithPollingTimeout(30*time.Second))))
	b.shot(tab, "check-valid-fr")
	// The checks one by one are folded under the answers: open them, as the voter would.
	details := evalString(t, tab, `document.getElementById('check-details').open = true, [...document.querySelectorAll('#verdict li')].map(li => li.innerText).join('\n')`)
	b.note("check-valid-fr.txt", details)
	for _, en := range english {
		if strings.Contains(details, en) {
			t.Errorf("the French check page shows %q:\n%s", en, details)
		}
	}
	for _, fr := range []string{"Entrée 1 sur 1 du bloc", "signé par le validateur de la chaîne (le seul)", "est sur la chaîne de ce nœud"} {
		if !strings.Contains(details, fr) {
			t.Errorf("the French check page lacks %q:\n%s", fr, details)
		}
	}

	// A tampered receipt: each failure said in French, the English kept
	// behind "Détail technique".
	data, _ := json.Marshal(res.Receipt)
	b.checkTampered(tab, data)
	b.shot(tab, "check-tampered-fr")
	failed := evalString(t, tab, `[...document.querySelectorAll('#offline li.failed')].map(li => li.querySelector('small').innerText).join('\n')`)
	if !strings.Contains(failed, "le vote a été modifié après sa signature") {
		t.Errorf("the tampered receipt's failures in French:\n%s", failed)
	}
	if n := evalString(t, tab, `String(document.querySelectorAll('#offline li.failed details.technical').length)`); n == "0" {
		t.Error("the failures keep no technical detail")
	}
	// Several checks fail: the verdict names them in the plural.
	if s := evalString(t, tab, `document.getElementById('verdict-text').innerText`); !strings.Contains(s, "Vérifications échouées\u00a0: ") {
		t.Errorf("the verdict of a receipt failing several checks: %q", s)
	}

	// A cast this node does not know.
	b.do(tab, "an unknown cast", chromedp.Navigate(nodeURL+"/check?lang=fr&cast="+strings.Repeat("0", 64)),
		chromedp.WaitVisible(chromedp.CSS("#error #retry")))
	b.shot(tab, "check-unknown-cast-fr")
	msg := evalString(t, tab, `document.getElementById('error').innerText`)
	if !strings.Contains(msg, "ne connaît pas encore ce vote") || !strings.Contains(msg, "attendez quelques secondes") ||
		!strings.Contains(msg, "Vérifier à nouveau") || strings.Contains(msg, "not found") {
		t.Errorf("unknown cast: %q", msg)
	}
}

// The check page's receipt file picker speaks the page's language, not
// the browser's ("Choose File", "No file chosen"): a button-styled label
// in the page's words stands for the native input, which stays the
// control a keyboard and a screen reader use (hidden from sight only,
// reached with Tab, its focus shown on the label, named by the label);
// the chosen file's name then shows in the page's words.
func TestBrowserCheckPageFilePickerSpeaksThePagesLanguageAndStaysKeyboardAccessible(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodeURL := info.Nodes[0].API
	res := cliVote(t, ctx, info, nodeURL, roll[0], "for")
	file := filepath.Join(t.TempDir(), "mon-recu.json")
	data, _ := json.Marshal(res.Receipt)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t) // a French browser: the English page must not show its French picker either
	tab := b.ctx
	for _, c := range []struct{ lang, button, none string }{
		{"en", "Choose my receipt file", "No file chosen"},
		{"fr", "Choisir mon fichier de reçu", "Aucun fichier choisi"},
	} {
		b.do(tab, "the check page in "+c.lang, chromedp.Navigate(nodeURL+"/check?lang="+c.lang), chromedp.WaitEnabled(chromedp.CSS("#check-go")))
		b.shot(tab, "file-picker-"+c.lang)
		if s := evalString(t, tab, `document.getElementById('drop').innerText`); !strings.Contains(s, c.button) || !strings.Contains(s, c.none) {
			t.Errorf("%s: the picker reads %q, want %q and %q", c.lang, s, c.button, c.none)
		}
		if s := evalString(t, tab, `(() => { const r = document.getElementById('receipt-file').getBoundingClientRect(); return r.width + 'x' + r.height })()`); s != "1x1" {
			t.Errorf("%s: the native file input (the browser's own words) shows at %s", c.lang, s)
		}
		if s := evalString(t, tab, `(() => { const l = document.querySelector('label[for=receipt-file]'); const r = l.getBoundingClientRect();
			return l.innerText + '|' + (r.width > 100 && r.height >= 44) })()`); s != c.button+"|true" {
			t.Errorf("%s: the input's label %q is not a visible button of the page's words", c.lang, s)
		}
		missing, tree := unnamed(t, tab)
		if len(missing) > 0 || !slices.Contains(tree, "button: "+c.button) {
			t.Errorf("%s: the file input is not a control named %q:\n%s", c.lang, c.button, strings.Join(tree, "\n"))
		}
	}

	// The keyboard: Tab from the page's start reaches the input, and its
	// label shows the focus.
	for range 10 {
		if evalString(t, tab, `document.activeElement.id`) == "receipt-file" {
			break
		}
		b.do(tab, "Tab", chromedp.KeyEvent(kb.Tab))
	}
	if id := evalString(t, tab, `document.activeElement.id`); id != "receipt-file" {
		t.Fatalf("Tab does not reach the file input (focus on %q)", id)
	}
	b.shot(tab, "file-picker-focused-fr")
	if s := evalString(t, tab, `getComputedStyle(document.querySelector('label[for=receipt-file]')).outlineStyle`); s == "none" {
		t.Error("the focused file input shows no focus on its label")
	}

	b.do(tab, "choose the file", chromedp.SetUploadFiles(chromedp.CSS("#receipt-file"), []string{file}),
		void(chromedp.Poll[bool](`document.body.dataset.checked === 'valid'`, chromedp.WithPollingTimeout(30*time.Second))))
	if s := evalString(t, tab, `document.getElementById('receipt-file-name').innerText`); s != "Choisi\u00a0: mon-recu.json" {
		t.Errorf("the chosen file reads %q", s)
	}
}

// Two chains of the same name (two devnets): a receipt of one, checked on
// the other's page, is said to be of another chain, not listed as five
// failed checks; checked on its own chain's page while asking the other
// chain's node (its bare address, no scheme), the page says that node
// cannot tell, not that the vote does not count.
func TestBrowserCheckPageSaysAReceiptOrANodeIsOfAnotherChain(t *testing.T) {
	a, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	other, _ := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := cliVote(t, ctx, a, a.Nodes[0].API, roll[0], "for")
	receipt, err := json.Marshal(res.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	tab := b.ctx

	b.do(tab, "the other chain's check page", chromedp.Navigate(other.Nodes[0].API+"/check?lang=en"), chromedp.WaitEnabled(chromedp.CSS("#check-go")),
		setValue("receipt-text", string(receipt)), chromedp.Click(chromedp.CSS("#check-go")),
		void(chromedp.Poll[bool](`document.body.dataset.checked === 'invalid'`, chromedp.WithPollingTimeout(30*time.Second))))
	b.shot(tab, "receipt-of-another-chain")
	if got := evalString(t, tab, `document.getElementById('verdict-text').innerText`); !strings.HasPrefix(got, "This receipt is from another chain than this node’s") {
		t.Errorf("a receipt of another chain: the verdict %q, want it to say so", got)
	}

	otherHost := strings.TrimPrefix(other.Nodes[0].API, "http://")
	b.do(tab, "its own chain's check page, asking the other chain's node", chromedp.Navigate(a.Nodes[0].API+"/check?lang=en"),
		chromedp.WaitEnabled(chromedp.CSS("#check-go")), setValue("node", otherHost),
		setValue("receipt-text", string(receipt)), chromedp.Click(chromedp.CSS("#check-go")),
		void(chromedp.Poll[bool](`document.body.dataset.checked === 'valid'`, chromedp.WithPollingTimeout(30*time.Second))))
	b.shot(tab, "node-of-another-chain")
	got := evalString(t, tab, `[document.getElementById('asked').innerText, document.getElementById('counted').innerText].join('|')`)
	if want := other.Nodes[0].API + "|" + otherHost + " is a node of another chain than this proof’s"; !strings.HasPrefix(got, want) {
		t.Errorf("asking a node of another chain: %q, want %q…", got, want)
	}
}
