//go:build browser

package node

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/api/web/webtest"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/p2p"
)

// The alarm of a volunteer fed a lying validator set's block shows on its
// own page, in headless Chromium, in English and in French, at phone and
// desktop widths (the screenshots go to $TEST_ARTIFACTS/browser/<test>);
// the French page says that the reason, the node's own error text, is a
// technical one in English.
func TestBrowserAlarmShowsOnTheNodePage(t *testing.T) {
	n, _, _, _ := lyingValidatorSet(t)
	for _, c := range []struct {
		lang  string
		words []string
	}{
		{"en", []string{"ALARM", "block 2", "app hash"}},
		{"fr", []string{"ALERTE", "bloc 2", "motif technique, en anglais\u00a0:", "app hash"}},
	} {
		for _, width := range []int{390, 1280} {
			text, class := nodePageAlarm(t, n, fmt.Sprintf("01-volunteer-alarm-%s-%d.png", c.lang, width), c.lang, width)
			if strings.Contains(class, "alarm-claim") {
				t.Fatalf("this node's own alarm on the %s page at %d px is styled as a peer's claim (%s)", c.lang, width, class)
			}
			for _, w := range c.words {
				if !strings.Contains(text, w) {
					t.Fatalf("the alarm on the %s page at %d px: %q, want %q in it", c.lang, width, text, w)
				}
			}
		}
	}
}

// Another node's alarm of a block this volunteer verified itself is shown
// as that node's claim, with this node's own verdict, not as the warning
// not to trust the figures: anyone can sign an alarm with a free key. The
// claim's own words (a stranger's text: "see https://…") are not shown.
func TestBrowserAPeersAlarmOfABlockThisNodeVerifiedReadsAsAClaim(t *testing.T) {
	g, keys := ballottest.Validators("claim-chain", 4, 11)
	n := volunteerNode(t, g)
	b := applyEmptyBlock(t, n, keys, 1)
	nw := &peerNetwork{n: n}
	claim := consensus.NewAlarm(g.Chain(), 1, b.Hash(), "made up by a stranger", keyN(7))
	if v := nw.HandleWitness("", &consensus.Witness{Alarm: claim}); v != p2p.Accept || len(n.Alarms()) != 1 {
		t.Fatalf("the peer's alarm was not kept: %v", v)
	}
	text, class := nodePageAlarm(t, n, "02-peer-claim.png", "en", 390)
	if !strings.Contains(class, "alarm-claim") || strings.Contains(text, "ALARM") || !strings.Contains(text, "Another node says that block 1") ||
		!strings.Contains(text, "verified that block itself and found it valid") || strings.Contains(text, "made up by a stranger") {
		t.Fatalf("a peer's claim on the page (%s): %q", class, text)
	}
}

// nodePageAlarm opens n's own page in lang at width px, waits for its
// alarm box, saves a screenshot under name and returns the box's text and
// classes.
func nodePageAlarm(t *testing.T, n *Node, name, lang string, width int) (text, class string) {
	t.Helper()
	srv := httptest.NewServer(n.api.Handler())
	defer srv.Close()
	dir := webtest.Artefacts(t)
	browser := webtest.Chromium(t)
	defer chromedp.Cancel(browser) // one browser a page, stopped once read
	ctx, cancelT := context.WithTimeout(browser, time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), 844), chromedp.Navigate(srv.URL+"/?lang="+lang),
		chromedp.WaitVisible(chromedp.CSS("#node-alarm"))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('node-alarm').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if class, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('node-alarm').className`)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	return text, class
}
