//go:build browser

package webtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node"
	"github.com/cocorico/node/node/login"
	"github.com/cocorico/node/node/login/logintest"
)

const loginAdminToken = "browser-login-test-admin-token"

// startLoginRegistrar runs a registrar whose voters log in at a real
// OpenID Connect provider (logintest: zitadel's op, a login page that
// approves the user named) and allows the pages of nodeOrigin; it
// returns the registrar's URL and the provider.
func startLoginRegistrar(t *testing.T, nodeURL string, users []logintest.User) (string, *logintest.Provider) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String() // the provider must know the callback before the registrar binds it
	ln.Close()
	regURL := "http://" + addr
	provider := logintest.Start(t, regURL+"/v1/login/callback", users)
	reg, err := node.NewRegistrar(node.RegistrarConfig{Home: t.TempDir(), Listen: addr, NodeURL: nodeURL, AdminToken: loginAdminToken,
		Login: &login.Config{Issuer: provider.URL, ProviderName: "FranceConnect (test)", ClientID: logintest.ClientID,
			ClientSecret: logintest.ClientSecret, RedirectURL: regURL + "/v1/login/callback", Scopes: []string{"openid", "birthdate"},
			AllowedOrigins: []string{nodeURL}, Eligibility: registrar.Eligibility{MinAge: 18}, SubjectKey: bytes.Repeat([]byte{9}, 32)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return regURL, provider
}

// loginBallot submits a ballot whose one registrar is regURL, signed by
// the devnet's organizer, and waits until the node has it.
func loginBallot(t *testing.T, info node.DevnetInfo, regURL string) consensus.Hash {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := client.NewNode(info.Nodes[0].API)
	g, err := n.Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	org, err := node.LoadKey(filepath.Join(filepath.Dir(info.Voters), "organizer.key"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := client.NewRegistrar(regURL, loginAdminToken).NewKey(ctx, ballot.KeyBits2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	def := &ballot.Definition{ChainID: g.ChainID, GenesisHash: g.Hash(), Question: "Faut-il ouvrir la bibliothèque le dimanche ?",
		Choices: []string{"Oui", "Non", "Blanc"}, Opens: now.UnixMilli(), Closes: now.Add(time.Hour).UnixMilli(), Revote: true,
		Registrars: []ballot.Registrar{{Name: "Mairie (FranceConnect)", URL: regURL, Key: k.PublicKey}}}
	def.Sign(org)
	id, err := n.SubmitDefinition(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, _, _ := n.Ballot(ctx, id); b != nil {
			return id
		}
		if ctx.Err() != nil {
			t.Fatal("the ballot is not final after a minute")
		}
		time.Sleep(100 * time.Millisecond) // polling the node for the block
	}
}

// A voter logs in with OpenID Connect on the voting page, in a real
// browser: the page learns from the registrar (not the node) that it
// logs voters in and offers "log in with" its provider instead of the
// voter id and code form; the login goes to a real provider and back
// with a session in the fragment, which the page removes from the
// address bar; the token, the choice, the confirmation and a verified
// receipt follow. The same browser votes again from its wallet with no
// second login. The same person logging in from another browser profile
// is told she already has her voting key (one token issued), a minor is
// told she is not eligible, and a failed or foreign return is told to log
// in again, its fragment removed.
func TestBrowserVoterLogsInWithOpenIDConnectAndVotes(t *testing.T) {
	info, _ := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 2, App: quickRevotes()})
	node0 := info.Nodes[0].API
	regURL, provider := startLoginRegistrar(t, node0, []logintest.User{
		{Subject: "marianne", Birthdate: "1989-07-14"}, {Subject: "lea", Birthdate: "2015-03-02"}})
	id := loginBallot(t, info, regURL)
	page := node0 + "/vote/" + id.String()
	provider.LogInAs("marianne")

	b := newBrowser(t)
	tab := b.ctx
	b.do(tab, "open the voting page", chromedp.Navigate(page), chromedp.WaitEnabled(chromedp.CSS("#oidc-go")))
	if label := evalString(t, tab, `document.getElementById('oidc-go').innerText`); label != "Se connecter avec FranceConnect (test)" {
		t.Errorf("login button %q", label)
	}
	if evalString(t, tab, `String(document.getElementById('login').hidden)`) != "true" {
		t.Error("the voter id and code form is shown for a registrar that logs voters in")
	}
	b.shot(tab, "login-offered")
	b.checkNamed(tab, "login-oidc")

	clicked := time.Now()
	b.do(tab, "log in at the provider and come back", chromedp.Click(chromedp.CSS("#oidc-go")), chromedp.WaitVisible(chromedp.CSS("#s-choose")))
	b.note("login-round-trip.txt", fmt.Sprintf("click on \"log in with\" → choose screen (start, provider, callback, page reload, module, token): %s, the provider approving at once\n",
		time.Since(clicked).Round(time.Millisecond)))
	if u := evalString(t, tab, `location.href`); u != page {
		t.Errorf("after the login the address is %s, want %s (the session removed)", u, page)
	}
	if s := evalString(t, tab, `String(sessionStorage.length)`); s != "0" {
		t.Errorf("%s items left in sessionStorage after the login", s)
	}
	b.shot(tab, "logged-in-choose")
	b.castVote(tab, 0, "login")
	receiptFile := b.download(tab, "download")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := client.NewNode(node0)
	g, err := n.Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(receiptFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ballot.DecodeReceipt(data)
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Verify(g); !v.Valid {
		t.Fatalf("the receipt fails %v", v.Failed())
	}

	// Again from the same browser: the wallet's key, no login.
	b.do(tab, "reopen the voting page", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#oidc-entries button")))
	b.shot(tab, "revote-offered")
	b.checkNamed(tab, "login-revote")
	b.do(tab, "vote again with the wallet", chromedp.Click(chromedp.CSS("#oidc-entries button")), chromedp.WaitVisible(chromedp.CSS("#revote-note")))
	b.castVote(tab, 1, "revote")
	res, err := n.Results(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := []uint64{res.Choices[0].Count, res.Choices[1].Count, res.Choices[2].Count}; !slices.Equal(got, []uint64{0, 1, 0}) {
		t.Errorf("results %v, want [0 1 0]: the re-vote replaces the first vote", got)
	}

	// The same person from another browser profile: no second token.
	other := newBrowser(t)
	other.dir, other.shots = b.dir, b.shots
	b.do(other.ctx, "log in from another browser", chromedp.Navigate(page), chromedp.WaitEnabled(chromedp.CSS("#oidc-go")),
		chromedp.Click(chromedp.CSS("#oidc-go")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := evalString(t, other.ctx, `document.getElementById('error').innerText`); !strings.Contains(msg, "déjà reçu votre clé de vote") {
		t.Errorf("a second login of the same person: %q", msg)
	}
	if u := evalString(t, other.ctx, `location.href`); u != page {
		t.Errorf("after a refused token the address is %s, want %s", u, page)
	}
	other.shot(other.ctx, "second-login-already-issued")

	// A person the eligibility rules refuse.
	provider.LogInAs("lea")
	b.do(other.ctx, "log in as a minor", chromedp.Navigate(page), chromedp.WaitEnabled(chromedp.CSS("#oidc-go")),
		chromedp.Click(chromedp.CSS("#oidc-go")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := evalString(t, other.ctx, `document.getElementById('error').innerText`); !strings.Contains(msg, "ne pouvez pas voter à ce scrutin") {
		t.Errorf("an ineligible person: %q", msg)
	}
	other.shot(other.ctx, "not-eligible")
	// Returns this tab did not start, or a refusal: the fragment goes at
	// once and the message says to log in again.
	for frag, want := range map[string]string{
		"#session=forged&expires_in=300":                         "Cet onglet n’a pas commencé cette connexion",
		"#error=login_failed&error_description=nonce%20mismatch": "n’a pas abouti. Reconnectez-vous.",
	} {
		b.do(other.ctx, "a return with "+frag, chromedp.Navigate("about:blank"), chromedp.Navigate(page+frag), chromedp.WaitVisible(chromedp.CSS("#error")))
		if msg := evalString(t, other.ctx, `document.getElementById('error').innerText`); !strings.Contains(msg, want) {
			t.Errorf("a return with %s: %q, want %q", frag, msg, want)
		}
		if u := evalString(t, other.ctx, `location.href`); u != page {
			t.Errorf("a return with %s left the address %s", frag, u)
		}
		// A crafted link's words are not shown: the description of an
		// error this tab did not start stays out of the page.
		if text := evalString(t, other.ctx, `document.body.textContent`); strings.Contains(text, "nonce mismatch") {
			t.Errorf("a return with %s this tab did not start shows its description: %q", frag, text)
		}
	}
	other.shot(other.ctx, "login-failed")
	b.do(other.ctx, "the page in English", chromedp.Navigate(page+"?lang=en"), chromedp.WaitEnabled(chromedp.CSS("#oidc-go")))
	if label := evalString(t, other.ctx, `document.getElementById('oidc-go').innerText`); label != "Log in with FranceConnect (test)" {
		t.Errorf("login button in English %q", label)
	}
	other.shot(other.ctx, "login-offered-en")
	if n, err := client.NewRegistrar(regURL, "").Issued(ctx, id); err != nil || n != 1 {
		t.Errorf("the registrar issued %d tokens (%v), want 1", n, err)
	}
}
