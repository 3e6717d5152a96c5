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
// with no "0 are waiting").
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
		if s := evalString(t, tab, `document.querySelector('#offline li[data-check=commit] small').innerText`); !strings.Contains(s, c.want) {
			t.Errorf("%s: the commit check says %q, want %q", c.lang, s, c.want)
		}
	}

	for _, c := range []struct{ lang, signed, final string }{
		{"en", "Signed by the chain’s validator in block", "1 vote is final (100 %)."},
		{"fr", "Signés par le validateur de la chaîne dans le bloc", "1 vote est définitif (100 %)."},
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
	}
}
