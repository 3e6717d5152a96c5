package webtest

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node"
)

// pollUntil asks cond every 100 ms until it holds, or fails the test.
func pollUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// In a sealed ballot (2 of 3 keykeepers), the WebAssembly client seals its
// choice with the same Go code as `cocorico vote` (client.Vote): the node
// takes both casts, the results say nothing but the turnout until two
// keykeepers share after closing, and the count then has both choices.
func TestWasmAndCLICastSealedBallotsThatCountAfterClosing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs a devnet")
	}
	w := startWasm(t)
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := client.NewNode(info.Nodes[0].API)
	g, err := n.Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	org, _, err := node.LoadOrCreateKey(filepath.Join(filepath.Dir(info.Genesis), "organizer.key"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(info.RegistrarTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := client.NewRegistrar(info.Registrar, strings.TrimSpace(string(token))).NewKey(ctx, ballot.KeyBits2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	def := &ballot.Definition{ChainID: g.ChainID, GenesisHash: g.Hash(), Question: "Sealed in the browser?", Choices: []string{"for", "against", "abstention"},
		Opens: now.Add(6 * time.Second).UnixMilli(), Closes: now.Add(16 * time.Second).UnixMilli(), Revote: true, KeygenCloses: now.Add(4 * time.Second).UnixMilli(),
		Registrars: []ballot.Registrar{{Name: "devnet registrar", URL: info.Registrar, Key: rk.PublicKey}}, Tally: ballot.TallySealed, Threshold: 2}
	var keepers []*client.KeykeeperKeys
	for _, name := range []string{"A", "B", "C"} {
		k, err := client.NewKeykeeperKeys("keeper " + name)
		if err != nil {
			t.Fatal(err)
		}
		keepers = append(keepers, k)
		def.Keykeepers = append(def.Keykeepers, ballot.Keykeeper{Name: k.Name, Key: k.Sign().Public().(ed25519.PublicKey), EncKey: k.EncPub})
	}
	def.Sign(org)
	id, err := n.SubmitDefinition(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the sealed ballot is final", 10*time.Second, func() bool { _, _, err := n.Ballot(ctx, id); return err == nil })
	quiet := func(string) {}
	for _, k := range keepers {
		if err := client.KeykeeperStep(ctx, n, g, k, id, time.Now(), quiet); err != nil {
			t.Fatalf("deal of %s: %v", k.Name, err)
		}
	}
	pollUntil(t, "the election key", 10*time.Second, func() bool { v, err := n.Keyring(ctx, id); return err == nil && v.ElectionKey != nil })
	pollUntil(t, "the opening", 10*time.Second, func() bool { return time.Now().UnixMilli() > def.Opens+500 })

	cliVoteIn(t, ctx, info, id, info.Nodes[0].API, roll[0], "for") // the CLI's sealed vote

	genesisText := getText(t, info.Nodes[0].API+"/v1/genesis")
	var view struct {
		Definition json.RawMessage `json:"definition"`
	}
	if err := json.Unmarshal([]byte(getText(t, info.Nodes[0].API+"/v1/ballots/"+id.String())), &view); err != nil {
		t.Fatal(err)
	}
	var kr struct {
		Keyring json.RawMessage `json:"keyring"`
	}
	if err := json.Unmarshal([]byte(getText(t, info.Nodes[0].API+"/v1/ballots/"+id.String()+"/keyring")), &kr); err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Handle  int    `json:"handle"`
		Seed    []byte `json:"seed"`
		Blinded []byte `json:"blinded"`
	}
	if err := w.call(&tr, "tokenRequest", genesisText, string(view.Definition), id.String(), 0); err != nil {
		t.Fatal(err)
	}
	blindSig, err := client.NewRegistrar(info.Registrar, "").Token(ctx, registrarapi.TokenRequest{BallotID: id, VoterID: roll[1].VoterID, Code: roll[1].Code, Blinded: tr.Blinded})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		TokenPrefix []byte `json:"token_prefix"`
		Token       []byte `json:"token"`
	}
	if err := w.call(&tok, "finalizeToken", tr.Handle, blindSig); err != nil {
		t.Fatal(err)
	}
	unsigned, _ := json.Marshal(map[string]any{"ballot_id": id.String(), "seq": 1, "choice": 1, "registrar": 0,
		"token_prefix": tok.TokenPrefix, "token": tok.Token})
	var signed struct {
		Cast   *ballot.Cast   `json:"cast"`
		CastID consensus.Hash `json:"cast_id"`
	}
	if err := w.call(&signed, "signCast", genesisText, string(view.Definition), id.String(), string(unsigned), tr.Seed, string(kr.Keyring)); err != nil {
		t.Fatal(err)
	}
	if signed.Cast.Choice != 0 || len(signed.Cast.Sealed) == 0 {
		t.Fatalf("the module's cast says choice %d in clear and %d sealed bytes", signed.Cast.Choice, len(signed.Cast.Sealed))
	}
	castID, err := n.SubmitCast(ctx, signed.Cast)
	if err != nil {
		t.Fatalf("the node refuses the WebAssembly client's sealed cast: %v", err)
	}
	if _, err := n.WaitFinal(ctx, castID, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if res, err := n.Results(ctx, id); err != nil || !res.Sealed || len(res.Choices) != 0 || res.Casts.Counted != 2 {
		t.Fatalf("results of the open sealed ballot %+v, %v: want sealed, turnout 2, no counts", res, err)
	}

	pollUntil(t, "the closing", 15*time.Second, func() bool { return time.Now().UnixMilli() > def.Closes+1000 })
	for _, k := range keepers[1:] {
		if err := client.KeykeeperStep(ctx, n, g, k, id, time.Now(), quiet); err != nil {
			t.Fatalf("share of %s: %v", k.Name, err)
		}
	}
	var res *api.ResultsView
	pollUntil(t, "the count", 10*time.Second, func() bool {
		res, err = n.Results(ctx, id)
		return err == nil && !res.Sealed
	})
	if res.Choices[0].Count != 1 || res.Choices[1].Count != 1 {
		t.Fatalf("counts %+v, want the CLI's for and the browser's against", res.Choices)
	}
}
