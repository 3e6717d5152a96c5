//go:build browser

package webtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/node"
)

// A ballot whose closing time passed: its page says in the voter's
// language that voting is closed and links to the results, with no "I
// vote" button; its voting page says the same instead of a login that
// would end in a refusal. A closed ballot nobody voted in says so in the
// past ("No vote was counted."), never "yet" next to "final".
func TestBrowserClosedBallotPagesSayVotingIsClosedAndWhereTheResultsAre(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := shortBallot(t, ctx, info, 4*time.Second)
	empty := shortBallot(t, ctx, info, 4*time.Second)
	cliVoteIn(t, ctx, info, id, info.Nodes[0].API, roll[0], "yes")
	waitStatus(t, ctx, info.Nodes[0].API, id, "tallied")
	waitStatus(t, ctx, info.Nodes[0].API, empty, "tallied")
	b := newBrowser(t)
	tab := b.ctx
	page := info.Nodes[0].API + "/ballots/" + id.String()
	b.do(tab, "the closed ballot's page", chromedp.Navigate(page+"?lang=fr"), chromedp.WaitVisible(chromedp.CSS("#ballot-note")),
		void(chromedp.Poll[bool](`document.body.dataset.counted === '1'`, chromedp.WithPollingTimeout(30*time.Second))))
	b.shot(tab, "closed-ballot-fr")
	b.checkNamed(tab, "closed-ballot")
	if s := evalString(t, tab, `document.getElementById('ballot-note').innerText`); !strings.Contains(s, "Le vote est clos depuis le") ||
		!strings.Contains(s, "définitifs") || !strings.Contains(s, "Voir les résultats") {
		t.Errorf("closed ballot's note: %q", s)
	}
	if s := evalString(t, tab, `String(document.getElementById('vote').offsetParent !== null)`); s != "false" {
		t.Error("the closed ballot's page shows its vote button")
	}
	if s := evalString(t, tab, `document.querySelector('#ballot-note a').getAttribute('href')`); s != "/ballots/"+id.String()+"/results" {
		t.Errorf("the note links to %q", s)
	}

	b.do(tab, "the closed ballot's voting page", chromedp.Navigate(info.Nodes[0].API+"/vote/"+id.String()+"?lang=fr"),
		chromedp.WaitVisible(chromedp.CSS("#s-closed")))
	b.shot(tab, "closed-vote-fr")
	b.checkNamed(tab, "closed-vote")
	if s := evalString(t, tab, `document.getElementById('s-closed').innerText`); !strings.Contains(s, "Le vote est clos") ||
		!strings.Contains(s, "Voir les résultats") {
		t.Errorf("closed voting page: %q", s)
	}
	for _, hidden := range []string{"s-login", "error", "wallet"} {
		if s := evalString(t, tab, `String(document.getElementById('`+hidden+`').offsetParent !== null)`); s != "false" {
			t.Errorf("the closed voting page shows #%s", hidden)
		}
	}
	b.do(tab, "the voting page in English", chromedp.Navigate(info.Nodes[0].API+"/vote/"+id.String()+"?lang=en"),
		chromedp.WaitVisible(chromedp.CSS("#s-closed")))
	b.shot(tab, "closed-vote-en")
	if s := evalString(t, tab, `document.getElementById('s-closed').innerText`); !strings.Contains(s, "Voting is closed") {
		t.Errorf("closed voting page in English: %q", s)
	}

	b.do(tab, "the closed ballot nobody voted in", chromedp.Navigate(info.Nodes[0].API+"/ballots/"+empty.String()+"?lang=en"),
		void(chromedp.Poll[bool](`document.body.dataset.counted === '0' && document.body.dataset.status === 'tallied'`,
			chromedp.WithPollingTimeout(30*time.Second))))
	b.shot(tab, "closed-empty-ballot-en")
	if s := evalString(t, tab, `document.querySelector('#results .total').innerText`); s != "No vote was counted." {
		t.Errorf("the closed ballot nobody voted in: %q, want %q", s, "No vote was counted.")
	}
	b.do(tab, "its results", chromedp.Navigate(info.Nodes[0].API+"/ballots/"+empty.String()+"/results?lang=fr"),
		void(chromedp.Poll[bool](`document.body.dataset.final === 'true' && document.querySelectorAll('#issued li').length === 1`,
			chromedp.WithPollingTimeout(30*time.Second))))
	b.shot(tab, "closed-empty-results-fr")
	for _, l := range []struct{ id, want string }{
		{"chart-caption", "Aucune voix n’a été comptée."},
		{"turnout", "Aucun votant n’a été compté."},
		{"issued", "devnet registrar n’a donné aucun droit de vote. Sa liste électorale compte 4 électeurs."},
		{"finality", "Aucun bulletin n’a été déposé."},
	} {
		if s := evalString(t, tab, `document.getElementById('`+l.id+`').innerText`); s != l.want {
			t.Errorf("the final results of a ballot nobody voted in: #%s says %q, want %q", l.id, s, l.want)
		}
	}
}
