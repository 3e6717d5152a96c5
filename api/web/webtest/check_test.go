//go:build browser

package webtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/node"
)

// The check page in French shows every line in French: no detail of the
// module's nine checks nor of the node's own check in English, for a
// valid receipt and for a tampered one; a cast the node does not know
// gets a sentence that says what to do and a button to check again.
func TestBrowserFrenchCheckPageShowsNoEnglishDetail(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodeURL := info.Nodes[0].API
	wallet, err := client.OpenWallet(filepath.Join(t.TempDir(), "wallet.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := client.NewNode(nodeURL)
	res, err := client.Vote(ctx, client.VoteRequest{Node: n, Registrar: client.NewRegistrar(info.Registrar, ""), BallotID: info.Ballot,
		VoterID: roll[0].VoterID, Code: roll[0].Code, Choice: "for", Wallet: wallet, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
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
	details := evalString(t, tab, `[...document.querySelectorAll('#verdict li')].map(li => li.innerText).join('\n')`)
	b.note("check-valid-fr.txt", details)
	for _, en := range english {
		if strings.Contains(details, en) {
			t.Errorf("the French check page shows %q:\n%s", en, details)
		}
	}
	for _, fr := range []string{"Entrée 1 sur 1 du bloc", "signé par 1 des 1 validateurs", "est sur la chaîne de ce nœud"} {
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
