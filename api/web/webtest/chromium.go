//go:build browser

package webtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium starts Debian's chromium headless (or $CHROMIUM) with a fresh
// profile, for the test t, and returns its first tab; both stop when the
// test ends. Options are added to the allocator's defaults (a language,
// say). Any package's browser test uses it: the node's own page is
// tested from package node.
func Chromium(t testing.TB, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Fatal("no chromium: apt-get install chromium (or set CHROMIUM)")
	}
	// Chromium's own temporary directory, which it leaves behind when
	// killed (its singleton socket's: a short path, a socket's is at
	// most 107 bytes), removed once the browser is.
	tmp, err := os.MkdirTemp("", "chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	all := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()), chromedp.Env("TMPDIR="+tmp))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(all, opts...)...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() }) // before tmp's removal: cleanups run last first
	return ctx
}

// Artefacts returns the folder where the test t leaves its screenshots
// and measures: $TEST_ARTIFACTS/browser/<test>, or a temporary folder
// kept after the test (both named in the test's log).
func Artefacts(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir != "" {
		dir = filepath.Join(dir, "browser", t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "cocorico-browser-"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots and measures in %s", dir)
	return dir
}
