package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/node"
	"github.com/cocorico/node/node/login/logintest"
)

// A voter votes with `cocorico vote --login`: the registrar (configured
// by its config file, secrets in files) sends the voter's browser to a
// real OpenID provider running in the test, which comes back through the
// registrar to the command's loopback port with a session; the token,
// the cast, finality and the receipt follow. The browser is an HTTP
// client that follows the redirects (the provider's login page approves
// the user the test names). A second --login vote of the same person
// from another wallet gets no second token.
func TestVoteWithLoginThroughTheLoopbackRedirect(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a devnet process")
	}
	dir := t.TempDir()
	_, info := startDevnetProcess(t, dir, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	regAddr := ln.Addr().String()
	ln.Close()
	regURL := "http://" + regAddr
	provider := logintest.Start(t, regURL+"/v1/login/callback", []logintest.User{{Subject: "marianne", Birthdate: "1989-07-14"}})
	provider.LogInAs("marianne")

	secret, key := filepath.Join(dir, "client-secret"), filepath.Join(dir, "subject-key")
	os.WriteFile(secret, []byte(logintest.ClientSecret+"\n"), 0o600)
	os.WriteFile(key, []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600)
	config := filepath.Join(dir, "registrar.json")
	os.WriteFile(config, fmt.Appendf(nil, `{"oidc": {"issuer": %q, "client_id": %q, "redirect_url": %q,
  "client_secret_file": %q, "subject_key_file": %q, "scopes": ["openid", "birthdate"],
  "eligibility": {"min_age": 18}}}`, provider.URL, logintest.ClientID, regURL+"/v1/login/callback", secret, key), 0o600)
	lc, err := node.ReadRegistrarFile(config)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := node.NewRegistrar(node.RegistrarConfig{Home: filepath.Join(dir, "oidc-registrar"), Listen: regAddr,
		NodeURL: info.Nodes[0].API, AdminToken: clusterAdminToken, Login: lc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- reg.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	id := finalTestBallot(t, dir, info.Nodes[0].API, regURL).ID
	vote := func(wallet, receipt string) (int, string) {
		return voteWithBrowser(t, "vote", "--login", "--no-browser", "--node", info.Nodes[0].API, "--registrar", regURL,
			"--ballot", id.String(), "--choice", "for", "--wallet", filepath.Join(dir, wallet), "--receipt", filepath.Join(dir, receipt))
	}
	code, out := vote("wallet.json", "receipt.json")
	if code != exitOK || !strings.Contains(out, "final: cast") {
		t.Fatalf("vote --login: exit %d\n%s", code, out)
	}
	t.Logf("vote --login:\n%s", out)
	if code, out := runCLI("receipt", "verify", filepath.Join(dir, "receipt.json"), "--wallet", filepath.Join(dir, "wallet.json")); code != exitOK {
		t.Fatalf("receipt verify: exit %d\n%s", code, out)
	}
	code, out = vote("other-wallet.json", "receipt2.json")
	if code == exitOK || !strings.Contains(out, "already_issued") || !strings.Contains(out, "use the wallet that voted") {
		t.Fatalf("a second token for the same person: exit %d\n%s", code, out)
	}
	if n, err := client.NewRegistrar(regURL, "").Issued(ctx, id); err != nil || n != 1 {
		t.Fatalf("issued %d (%v), want 1", n, err)
	}
}

// voteWithBrowser runs the command line; when it prints the login URL,
// a browser (an HTTP client following redirects) visits it, through the
// provider and the registrar, to the command's loopback port.
func voteWithBrowser(t *testing.T, args ...string) (int, string) {
	t.Helper()
	pr, pw := io.Pipe()
	var all bytes.Buffer
	browsed := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		visited := false
		var visit sync.WaitGroup
		for sc.Scan() {
			line := sc.Text()
			all.WriteString(line + "\n")
			if u, ok := strings.CutPrefix(line, "  http"); ok && !visited {
				visited = true
				visit.Go(func() { browsed <- browseTo("http" + u) })
			}
		}
		// The command may end before the visit does (a refusal): the
		// channel closes after the visit's answer, never under it.
		visit.Wait()
		close(browsed)
	}()
	var errb bytes.Buffer
	code := run(args, pw, &errb)
	pw.Close()
	for err := range browsed { // until the reader is done with all
		if err != nil {
			t.Errorf("the browser: %v", err)
		}
	}
	return code, all.String() + errb.String()
}

func browseTo(u string) error {
	resp, err := (&http.Client{Timeout: time.Minute}).Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Request.URL.String(), "http://127.0.0.1:") {
		return fmt.Errorf("ended at %s (%d): %s", resp.Request.URL, resp.StatusCode, body)
	}
	return nil
}
