//go:build browser

package webtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/node"
)

// visibleControls lists the ids of the page's visible, enabled form
// controls and buttons.
const visibleControls = `[...document.querySelectorAll('input, select, textarea, button')]
	.filter((e) => e.offsetParent !== null && !e.disabled).map((e) => e.id).join(',')`

// The voting page of a ballot that opens later says so in the voter's
// language, with the opening date and time in her own time zone, and
// offers no login form (nothing to fill in that would end in a refusal),
// only a button to look again and the way back to the ballot. Left open,
// the page lets her in at the opening time by itself.
func TestBrowserVotePageOfAnUpcomingBallotSaysWhenItOpensWithNoFormThenOpensItself(t *testing.T) {
	info, _ := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newBrowser(t)
	tab := b.ctx
	// Time to show the page twice before the opening, and the opening
	// within b.do's bound of the last look.
	opens := time.Now().Add(25 * time.Second)
	id := ballotBetween(t, ctx, info, opens, opens.Add(time.Hour))
	page := info.Nodes[0].API + "/vote/" + id.String()

	b.do(tab, "the upcoming ballot's voting page in English", chromedp.Navigate(page+"?lang=en"),
		chromedp.WaitVisible(chromedp.CSS("#s-upcoming")))
	b.shot(tab, "upcoming-vote-en")
	text := evalString(t, tab, `document.getElementById('main').innerText`)
	for _, want := range []string{"Voting is not open yet", "Voting opens on", opens.Local().Format("January 2, 2006"),
		opens.Local().Format("3:04")} {
		if !strings.Contains(text, want) {
			t.Errorf("the upcoming voting page lacks %q:\n%s", want, text)
		}
	}
	if got := evalString(t, tab, visibleControls); got != "upcoming-again" {
		t.Errorf("the upcoming voting page offers the controls %q, want only the button to look again", got)
	}

	b.do(tab, "the same in French", chromedp.Navigate(page+"?lang=fr"), chromedp.WaitVisible(chromedp.CSS("#s-upcoming")))
	b.shot(tab, "upcoming-vote-fr")
	b.checkNamed(tab, "upcoming-vote")
	text = evalString(t, tab, `document.getElementById('main').innerText`)
	for _, want := range []string{"Le vote n’est pas encore ouvert", "Le vote ouvre le", opens.Local().Format("2006 à 15:04"),
		"Vérifier si le vote est ouvert", "Retour au scrutin"} {
		if !strings.Contains(text, want) {
			t.Errorf("the upcoming voting page in French lacks %q:\n%s", want, text)
		}
	}
	for _, hidden := range []string{"s-login", "error", "wallet"} {
		if s := evalString(t, tab, `String(document.getElementById('`+hidden+`').offsetParent !== null)`); s != "false" {
			t.Errorf("the upcoming voting page shows #%s", hidden)
		}
	}

	// Left open, the page lets the voter in once the ballot opens.
	b.do(tab, "the form appears at the opening time", chromedp.WaitEnabled(chromedp.CSS("#login-go")))
	b.shot(tab, "upcoming-vote-opened-fr")
	if got := evalString(t, tab, visibleControls); !strings.Contains(got, "voter") || strings.Contains(got, "upcoming-again") {
		t.Errorf("once open, the page offers %q", got)
	}
}

// requestsDuring returns the URLs containing part that the tab asks for
// during d.
func requestsDuring(tab context.Context, part string, d time.Duration) []string {
	ctx, cancel := context.WithTimeout(tab, d)
	defer cancel()
	var urls []string
	for ev, err := range chromedp.Events(ctx, network.RequestWillBeSent) {
		if err != nil {
			break // d is over
		}
		if strings.Contains(ev.Request.URL, part) {
			urls = append(urls, ev.Request.URL)
		}
	}
	return urls
}

// A ballot's page stops asking the node for results once they are final
// (nothing can change them any more), and asks none while the ballot is
// not open yet (there are no votes before the opening time).
func TestBrowserBallotPageStopsPollingOnceTheResultsAreFinalAndBeforeTheOpening(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	closed := shortBallot(t, ctx, info, 4*time.Second)
	cliVoteIn(t, ctx, info, closed, info.Nodes[0].API, roll[0], "yes")
	upcoming := ballotBetween(t, ctx, info, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour))
	waitStatus(t, ctx, info.Nodes[0].API, closed, "tallied")
	b := newBrowser(t)
	tab := b.ctx

	b.do(tab, "the final results on the ballot's page", chromedp.Navigate(info.Nodes[0].API+"/ballots/"+closed.String()+"?lang=en"),
		void(chromedp.Poll[bool](`document.body.dataset.counted === '1'`, chromedp.WithPollingTimeout(30*time.Second))))
	b.shot(tab, "final-ballot-en")
	if got := requestsDuring(tab, "/v1/", 10*time.Second); len(got) > 0 {
		t.Errorf("in the 10 s after showing final results, the page asked the node %d times: %v", len(got), got)
	}

	b.do(tab, "the upcoming ballot's page", chromedp.Navigate(info.Nodes[0].API+"/ballots/"+upcoming.String()+"?lang=fr"),
		void(chromedp.Poll[bool](`document.body.dataset.status === 'upcoming' && document.body.dataset.counted === '0'`,
			chromedp.WithPollingTimeout(30*time.Second))))
	b.shot(tab, "upcoming-ballot-fr")
	if got := requestsDuring(tab, "/v1/", 10*time.Second); len(got) > 0 {
		t.Errorf("in the 10 s after showing a ballot that opens in an hour, the page asked the node %d times: %v", len(got), got)
	}
	if s := evalString(t, tab, `document.getElementById('ballot-note').innerText`); !strings.Contains(s, "Le vote ouvre le") {
		t.Errorf("the upcoming ballot's note: %q", s)
	}
	if s := evalString(t, tab, `String(document.getElementById('results-section').offsetHeight)`); s != "0" {
		t.Errorf("the upcoming ballot's page shows a results section (%s px high), want none before the opening", s)
	}

	// Its results page says once when voting opens and that the page
	// will update by itself then: no tables of zeros, no "no vote yet".
	b.do(tab, "the upcoming ballot's results", chromedp.Navigate(info.Nodes[0].API+"/ballots/"+upcoming.String()+"/results?lang=en"),
		void(chromedp.Poll[bool](`document.getElementById('state').innerText === 'Not open yet'`, chromedp.WithPollingTimeout(30*time.Second))))
	b.shot(tab, "upcoming-results-en")
	main := evalString(t, tab, `document.querySelector('main').innerText`)
	if !strings.Contains(main, "Voting opens on") || !strings.Contains(main, "updates by itself") ||
		strings.Contains(main, "as votes land") || strings.Contains(main, "counted") || strings.Contains(main, "0%") {
		t.Errorf("the upcoming ballot's results page reads:\n%s", main)
	}
}
