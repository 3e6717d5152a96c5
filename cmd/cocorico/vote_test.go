package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cocorico/node/consensus"
)

// `cocorico vote` from one wallet file says what it does: a first vote
// for each of two voters, then a re-vote of the first that names the cast
// it replaces; each receipt then verifies with the genesis the wallet
// kept for it.
func TestVoteCommandSaysFirstVoteOrReVoteAndAsWhom(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a devnet process")
	}
	dir := t.TempDir()
	_, info := startDevnetProcess(t, dir, 1)
	roll := readRoll(t, info.Voters)
	wallet := filepath.Join(dir, "shared-wallet.json")
	vote := func(voter int, choice, receipt string) string {
		t.Helper()
		code, out := runCLI("vote", "--node", info.Nodes[0].API, "--registrar", info.Registrar, "--ballot", info.Ballot.String(),
			"--voter", roll[voter].VoterID, "--code", roll[voter].Code, "--choice", choice, "--wallet", wallet, "--receipt", receipt)
		if code != exitOK {
			t.Fatalf("vote as %s: exit %d\n%s", roll[voter].VoterID, code, out)
		}
		return out
	}
	castID := regexp.MustCompile(`final: cast ([0-9a-f]{64})`)
	receipts := []string{filepath.Join(dir, "a1.json"), filepath.Join(dir, "b1.json"), filepath.Join(dir, "a2.json")}

	a := vote(0, "for", receipts[0])
	if !strings.Contains(a, "first vote as "+roll[0].VoterID) {
		t.Fatalf("first voter:\n%s", a)
	}
	b := vote(1, "against", receipts[1])
	if !strings.Contains(b, "first vote as "+roll[1].VoterID) {
		t.Fatalf("second voter on the same wallet:\n%s", b)
	}
	again := vote(0, "abstention", receipts[2])
	first := castID.FindStringSubmatch(a)
	if first == nil || !strings.Contains(again, "re-vote as "+roll[0].VoterID) || !strings.Contains(again, "replaces your cast "+first[1]) {
		t.Fatalf("re-vote of the first voter (first cast %v):\n%s", first, again)
	}
	t.Logf("the re-vote's output:\n%s", again)
	for _, r := range receipts {
		if code, out := runCLI("receipt", "verify", r, "--wallet", wallet); code != exitOK {
			t.Fatalf("receipt verify %s with the wallet's genesis: exit %d\n%s", r, code, out)
		}
	}
	// Against a node, the replaced cast's receipt is valid (its cast is in
	// a final block) and says why it is not counted, nothing else.
	code, out := runCLI("receipt", "verify", receipts[0], "--wallet", wallet, "--node", info.Nodes[0].API)
	if code != exitOK || !strings.Contains(out, "cast is NOT counted: a later cast of the same voter key replaced it") || strings.Contains(out, "not on this chain") {
		t.Fatalf("receipt verify of the replaced cast against the node: exit %d\n%s", code, out)
	}
	if code, out := runCLI("receipt", "verify", receipts[2], "--wallet", wallet, "--node", info.Nodes[0].API); code != exitOK || !strings.Contains(out, "cast is counted") {
		t.Fatalf("receipt verify of the re-vote against the node: exit %d\n%s", code, out)
	}
	// The results of those three casts, checked against the chain, as a
	// person reads them (signed: the command waits for the block that
	// signs the newest figures) and as CSV.
	code, out = runCLI("results", "--node", info.Nodes[0].API, "--ballot", info.Ballot.String())
	if code != exitOK || !strings.Contains(out, "✓ checked: signed by") {
		t.Fatalf("results: exit %d\n%s", code, out)
	}
	code, out = runCLI("results", "--node", info.Nodes[0].API, "--ballot", info.Ballot.String(), "--format", "csv")
	want := "ballot_id,height,status,choice,count\n"
	if code != exitOK || !strings.HasPrefix(out, want) ||
		!strings.Contains(out, ",open,for,0\n") || !strings.Contains(out, ",open,against,1\n") || !strings.Contains(out, ",open,abstention,1\n") {
		t.Fatalf("results as CSV: exit %d\n%s", code, out)
	}
}

// Two voters of one computer keep a receipt each (the default name was
// the ballot's alone: the second vote overwrote the first voter's
// receipt); a re-vote replaces the voter's own; a voter id is kept to a
// file name's safe characters.
func TestDefaultReceiptNamesAreOnePerVoterAndSafe(t *testing.T) {
	id, _ := consensus.ParseHash(strings.Repeat("5f1c9a0b3e7d", 5) + "abcd")
	if a, b := defaultReceiptPath(id, "voter-0001"), defaultReceiptPath(id, "voter-0002"); a == b || a != "receipt-5f1c9a0b3e7d-voter-0001.json" {
		t.Fatalf("two voters' receipts: %s and %s", a, b)
	}
	if got := defaultReceiptPath(id, "../../etc/passwd é"); got != "receipt-5f1c9a0b3e7d-.._.._etc_passwd__.json" {
		t.Fatalf("an unsafe voter id: %s", got)
	}
	if got := defaultReceiptPath(id, strings.Repeat("x", 200)); len(got) != len("receipt-5f1c9a0b3e7d-.json")+64 {
		t.Fatalf("a long voter id: %s", got)
	}
}
