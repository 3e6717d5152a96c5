//go:build browser

package node

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The alarm of a volunteer fed a lying validator set's block shows on its
// own page and on a ballot's results page, in headless Chromium (the
// screenshot goes to $TEST_ARTIFACTS/browser/<test>).
func TestBrowserAlarmShowsOnTheNodePage(t *testing.T) {
	n, _, _, _ := lyingValidatorSet(t)
	srv := httptest.NewServer(n.api.Handler())
	defer srv.Close()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("no chromium: apt-get install chromium")
	}
	dir := t.TempDir()
	if a := os.Getenv("TEST_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "browser", t.Name())
		os.MkdirAll(dir, 0o755)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.URL+"/?lang=en"),
		chromedp.WaitVisible(chromedp.CSS("#node-alarm"))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('node-alarm').innerText`))
	if err != nil || !strings.Contains(text, "ALARM") || !strings.Contains(text, "block 2") || !strings.Contains(text, "app hash") {
		t.Fatalf("the alarm on the page: %q %v", text, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "01-volunteer-alarm.png"), png, 0o644)
	t.Logf("screenshot in %s", dir)
}
