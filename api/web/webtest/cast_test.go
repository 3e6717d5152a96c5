package webtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node"
)

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(body)
}

// A cast made by the WebAssembly client (blinded, unblinded and signed in
// the module the node serves) and one made by the CLI's code
// (client.Vote) are accepted by the same node, become final, count, and
// each one's receipt passes the other's check.
func TestWasmCastAndCLICastAreAcceptedByTheSameNode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs a devnet")
	}
	w := startWasm(t)
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := client.NewNode(info.Nodes[0].API)
	reg := client.NewRegistrar(info.Registrar, "")
	g, err := n.Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}

	wallet, err := client.OpenWallet(filepath.Join(t.TempDir(), "wallet.json"))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := client.Vote(ctx, client.VoteRequest{Node: n, Registrar: reg, BallotID: info.Ballot, VoterID: roll[0].VoterID,
		Code: roll[0].Code, Choice: "for", Wallet: wallet, Rand: rand.Reader})
	if err != nil {
		t.Fatalf("the CLI's vote: %v", err)
	}

	genesisText := getText(t, info.Nodes[0].API+"/v1/genesis")
	var view struct {
		Definition json.RawMessage `json:"definition"`
	}
	if err := json.Unmarshal([]byte(getText(t, info.Nodes[0].API+"/v1/ballots/"+info.Ballot.String())), &view); err != nil {
		t.Fatal(err)
	}
	def, id := string(view.Definition), info.Ballot.String()
	var tr struct {
		Handle  int    `json:"handle"`
		Seed    []byte `json:"seed"`
		Blinded []byte `json:"blinded"`
	}
	if err := w.call(&tr, "tokenRequest", genesisText, def, id, 0); err != nil {
		t.Fatal(err)
	}
	blindSig, err := reg.Token(ctx, registrarapi.TokenRequest{BallotID: info.Ballot, VoterID: roll[1].VoterID, Code: roll[1].Code, Blinded: tr.Blinded})
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
	unsigned, _ := json.Marshal(map[string]any{"ballot_id": id, "seq": 1, "choice": 1, "registrar": 0,
		"token_prefix": tok.TokenPrefix, "token": tok.Token})
	var signed struct {
		Cast   *ballot.Cast   `json:"cast"`
		CastID consensus.Hash `json:"cast_id"`
	}
	if err := w.call(&signed, "signCast", genesisText, def, id, string(unsigned), tr.Seed); err != nil {
		t.Fatal(err)
	}
	castID, err := n.SubmitCast(ctx, signed.Cast)
	if err != nil {
		t.Fatalf("the node refuses the WebAssembly client's cast: %v", err)
	}
	if castID != signed.CastID {
		t.Fatalf("the node names the cast %s, the module %s", castID, signed.CastID)
	}
	if _, err := n.WaitFinal(ctx, castID, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	browserReceipt, err := n.Receipt(ctx, castID)
	if err != nil {
		t.Fatal(err)
	}
	if v := browserReceipt.Verify(g); !v.Valid {
		t.Fatalf("the CLI's check fails the browser's receipt: %v", v.Failed())
	}
	cliReceipt, _ := json.Marshal(cli.Receipt)
	var v ballot.Verification
	if err := w.call(&v, "verifyReceipt", genesisText, string(cliReceipt)); err != nil || !v.Valid {
		t.Fatalf("the browser's check fails the CLI's receipt: %v %v", err, v.Failed())
	}
	res, err := n.Results(ctx, info.Ballot)
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[0].Count != 1 || res.Choices[1].Count != 1 {
		t.Fatalf("results %+v, want one for and one against", res.Choices)
	}
}
