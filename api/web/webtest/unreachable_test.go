//go:build browser

package webtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/node"
)

// How a flakyNode answers the API (the pages and their assets always load).
const (
	nodeUp      int32 = iota
	nodeDropped       // the connection closes: fetch fails as with no network
	nodeBroken        // 502, as a reverse proxy answers for a node that is down
)

// flakyNode serves a node through a proxy whose API can be made to fail,
// as a voter's connection or the node behind its reverse proxy does.
type flakyNode struct {
	URL  string
	mode atomic.Int32
}

func newFlakyNode(t *testing.T, target string) *flakyNode {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyNode{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			switch f.mode.Load() {
			case nodeDropped:
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.(*net.TCPConn).SetLinger(0) // a reset, not a clean close
					conn.Close()
				}
				return
			case nodeBroken:
				http.Error(w, "bad gateway", http.StatusBadGateway)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// When the node cannot answer (no connection, or a 5xx), the check page,
// the results page, the ballot page and the voting flow say so in the
// voter's language with a "Try again" button, and that button, once the
// node is back, does what failed: the page loads, the results show, the
// very same vote is sent and counted.
func TestBrowserPagesOfferToTryAgainWhenTheNodeIsUnreachable(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	n := newFlakyNode(t, info.Nodes[0].API)
	ballotID := info.Ballot.String()
	b := newBrowser(t)
	tab := b.ctx
	retryShown := chromedp.WaitVisible(chromedp.CSS("#error #retry"))
	errorText := func() string { return evalString(t, tab, `document.getElementById('error').innerText`) }

	// The check page cannot load the chain's genesis.
	n.mode.Store(nodeDropped)
	b.do(tab, "the check page, node unreachable", chromedp.Navigate(n.URL+"/check?lang=fr"), retryShown)
	b.shot(tab, "check-unreachable-fr")
	b.checkNamed(tab, "check-unreachable")
	if s := errorText(); !strings.Contains(s, "Impossible de joindre") || !strings.Contains(s, "Réessayer") {
		t.Errorf("check page, node unreachable: %q", s)
	}
	n.mode.Store(nodeUp)
	b.do(tab, "try again: the check page is ready", chromedp.Click(chromedp.CSS("#retry")), chromedp.WaitEnabled(chromedp.CSS("#check-go")),
		chromedp.WaitNotVisible(chromedp.CSS("#error")))

	// The results page: at load (a 502), then while it polls.
	n.mode.Store(nodeBroken)
	b.do(tab, "the results page, node down", chromedp.Navigate(n.URL+"/ballots/"+ballotID+"/results?lang=fr"), retryShown)
	b.shot(tab, "results-502-fr")
	if s := errorText(); !strings.Contains(s, "erreur 502") {
		t.Errorf("results page, 502: %q", s)
	}
	n.mode.Store(nodeUp)
	b.do(tab, "try again: the results show", chromedp.Click(chromedp.CSS("#retry")),
		void(chromedp.Poll[bool](`document.body.dataset.counted === '0'`, chromedp.WithPollingTimeout(30*time.Second))),
		chromedp.WaitNotVisible(chromedp.CSS("#error")))
	n.mode.Store(nodeDropped)
	b.do(tab, "the node goes away while the page polls", retryShown)
	b.shot(tab, "results-poll-unreachable-fr")
	n.mode.Store(nodeUp)
	b.do(tab, "try again: the page polls again", chromedp.Click(chromedp.CSS("#retry")),
		chromedp.WaitNotVisible(chromedp.CSS("#error")))

	// The ballot page.
	n.mode.Store(nodeDropped)
	b.do(tab, "the ballot page, node unreachable", chromedp.Navigate(n.URL+"/ballots/"+ballotID+"?lang=en"), retryShown)
	if s := errorText(); !strings.Contains(s, "Cannot reach") || !strings.Contains(s, "Try again") {
		t.Errorf("ballot page, node unreachable: %q", s)
	}
	// It tries again by itself (a voter who waits needs no button), and
	// the message goes once the ballot shows.
	n.mode.Store(nodeUp)
	b.do(tab, "the ballot shows by itself once the node answers",
		void(chromedp.Poll[bool](`document.body.dataset.counted === '0'`, chromedp.WithPollingTimeout(30*time.Second))),
		chromedp.WaitNotVisible(chromedp.CSS("#error")))

	// The voting flow: the page's load, then the vote itself.
	n.mode.Store(nodeDropped)
	b.do(tab, "the voting page, node unreachable", chromedp.Navigate(n.URL+"/vote/"+ballotID+"?lang=fr"), retryShown)
	b.shot(tab, "vote-load-unreachable-fr")
	if visible := evalString(t, tab, `String(!document.getElementById('s-login').hidden)`); visible != "false" {
		t.Error("the login form shows while the ballot could not be loaded")
	}
	n.mode.Store(nodeUp)
	b.do(tab, "try again: the voting page is ready", chromedp.Click(chromedp.CSS("#retry")), chromedp.WaitEnabled(chromedp.CSS("#login-go")),
		chromedp.SendKeys(chromedp.CSS("#voter"), roll[0].VoterID), chromedp.SendKeys(chromedp.CSS("#code"), roll[0].Code),
		chromedp.Click(chromedp.CSS("#login-go")), chromedp.WaitVisible(chromedp.CSS("#s-choose")),
		chromedp.Click(chromedp.CSS("#choice-1")), chromedp.Click(chromedp.CSS("#choose-go")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	n.mode.Store(nodeDropped)
	b.do(tab, "confirm while the node is unreachable", chromedp.Click(chromedp.CSS("#confirm")), retryShown)
	b.shot(tab, "vote-send-unreachable-fr")
	if s := errorText(); !strings.Contains(s, "Impossible de joindre") {
		t.Errorf("vote not sent: %q", s)
	}
	n.mode.Store(nodeUp)
	b.do(tab, "try again: the vote is counted", chromedp.Click(chromedp.CSS("#retry")), chromedp.WaitVisible(chromedp.CSS("#s-counted")))
	b.shot(tab, "vote-counted-after-retry-fr")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := client.NewNode(info.Nodes[0].API).Results(ctx, info.Ballot)
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[1].Count != 1 {
		t.Errorf("results %+v after the retried vote, want one vote for choice 1", res.Choices)
	}
}
