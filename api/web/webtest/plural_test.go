//go:build browser

package webtest

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/node"
)

// On a chain of one validator the pages say "signed by the chain's
// validator", not "signed by 1 of 1 validators", in both languages: the
// voting page's last screen, the check page and the results page; and
// the results page's counts agree with their number ("1 vote is final",
// with no "0 are waiting"), and with no volunteer on the chain it says
// that no independent node re-verified the figures yet, not that some
// are doing so.
func TestBrowserOneValidatorChainSaysSignedByTheChainsValidatorNotOneOfOne(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	nodeURL, id := info.Nodes[0].API, info.Ballot.String()
	b := newBrowser(t)
	tab := b.ctx

	b.do(tab, "the French voting page", chromedp.Navigate(nodeURL+"/vote/"+id+"?lang=fr"))
	b.vote(tab, roll[0], 0, "")
	b.shot(tab, "counted-one-validator-fr")
	if s := evalString(t, tab, `document.getElementById('counted-text').innerText`); !strings.Contains(s, "signé par le validateur de la chaîne") ||
		strings.Contains(s, " sur 1") {
		t.Errorf("the counted screen: %q", s)
	}
	cast := evalString(t, tab, `document.body.dataset.castId`)

	for _, c := range []struct{ lang, want string }{
		{"fr", "signé par le validateur de la chaîne (le seul)"},
		{"en", "signed by the chain’s validator (the only one)"},
	} {
		b.do(tab, "the check page in "+c.lang, chromedp.Navigate(nodeURL+"/check?lang="+c.lang+"&cast="+cast),
			void(chromedp.Poll[bool](`document.body.dataset.checked === 'valid'`, chromedp.WithPollingTimeout(30*time.Second))))
		// The checks one by one are folded under the answers: open them, as the voter would.
		if s := evalString(t, tab, `document.getElementById('check-details').open = true, document.querySelector('#offline li[data-check=commit] small').innerText`); !strings.Contains(s, c.want) {
			t.Errorf("%s: the commit check says %q, want %q", c.lang, s, c.want)
		}
	}

	for _, c := range []struct{ lang, signed, final, reverified string }{
		{"en", "by the chain’s validator: block", "1 vote cast is final (100%).", "No independent node has re-verified these figures yet."},
		{"fr", "par le validateur de la chaîne\u00a0: le bloc", "1 bulletin déposé est définitif (100\u00a0%).", "Aucun nœud indépendant n’a encore revérifié ces chiffres."},
	} {
		b.do(tab, "the results page in "+c.lang, chromedp.Navigate(nodeURL+"/ballots/"+id+"/results?lang="+c.lang),
			void(chromedp.Poll[bool](`document.body.dataset.counted === '1' && document.body.dataset.signed === '1'`,
				chromedp.WithPollingTimeout(60*time.Second))))
		b.shot(tab, "results-one-validator-"+c.lang)
		if s := evalString(t, tab, `document.getElementById('signed').innerText`); !strings.Contains(s, c.signed) {
			t.Errorf("%s: the signatures line %q, want %q", c.lang, s, c.signed)
		}
		if s := evalString(t, tab, `document.getElementById('finality').innerText`); s != c.final {
			t.Errorf("%s: the finality line %q, want %q", c.lang, s, c.final)
		}
		// No volunteer on this chain: the page does not say that some are
		// re-verifying the figures.
		if s := evalString(t, tab, `document.getElementById('reverified').innerText`); s != c.reverified {
			t.Errorf("%s: the re-verification line %q, want %q", c.lang, s, c.reverified)
		}
	}
}

// A count of none reads as a sentence, not as "0": "Aucun vote n’attend
// le prochain bloc", not "0 vote attend le prochain bloc" (French puts 0
// in the singular), in both languages, on the node's page (the mempool)
// and the results page of a ballot nobody voted in yet (the turnout, the
// chart's caption, the registrar's voting rights); and tn picks the zero
// form of the finality line (no vote final yet, some waiting), which a
// devnet shows too briefly to catch.
func TestBrowserCountsOfNoneSayNoneNotZero(t *testing.T) {
	info, _ := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	nodeURL, id := info.Nodes[0].API, info.Ballot.String()
	b := newBrowser(t)
	tab := b.ctx
	for _, c := range []struct {
		lang                                        string
		mempool, turnout, caption, issued, finality string
	}{
		{"fr", "Aucun vote n’attend le prochain bloc", "Aucun votant compté pour l’instant.",
			"Aucune voix comptée pour l’instant. Chaque votant compte une fois\u00a0: son dernier vote.",
			"n’a encore donné aucun droit de vote.", "Aucun bulletin déposé n’est encore définitif. 2 attendent le prochain bloc."},
		{"en", "No vote is waiting for the next block", "No voter counted yet.",
			"No vote counted yet. Each voter counts once: their last vote.",
			"has not given any voting right yet.", "No vote cast is final yet. 2 are waiting for the next block."},
	} {
		b.do(tab, "the node's page in "+c.lang, chromedp.Navigate(nodeURL+"/?lang="+c.lang),
			void(chromedp.Poll[bool](`document.body.dataset.height > 0`, chromedp.WithPollingTimeout(30*time.Second))))
		b.shot(tab, "node-"+c.lang)
		if s := evalString(t, tab, `document.getElementById('node-mempool').innerText`); s != c.mempool {
			t.Errorf("%s: the mempool line %q, want %q", c.lang, s, c.mempool)
		}
		b.do(tab, "the results page in "+c.lang, chromedp.Navigate(nodeURL+"/ballots/"+id+"/results?lang="+c.lang),
			void(chromedp.Poll[bool](`document.body.dataset.counted === '0' && document.querySelectorAll('#issued li').length === 1`,
				chromedp.WithPollingTimeout(30*time.Second))))
		b.shot(tab, "results-none-"+c.lang)
		for _, l := range []struct{ id, want string }{{"turnout", c.turnout}, {"chart-caption", c.caption}, {"issued", c.issued}} {
			if s := evalString(t, tab, `document.getElementById('`+l.id+`').innerText`); !strings.Contains(s, l.want) || strings.Contains(s, "0 ") {
				t.Errorf("%s: #%s says %q, want %q", c.lang, l.id, s, l.want)
			}
		}
		finality := evalString(t, tab, `Coco.tn('finality_final', 0, { final: '0', pct: '0 %' }) + ' ' + Coco.tn('finality_pending', 2, { pending: '2' })`)
		if finality != c.finality {
			t.Errorf("%s: the finality line with none final, 2 pending: %q, want %q", c.lang, finality, c.finality)
		}
	}
}
