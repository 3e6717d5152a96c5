package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runCLI(args ...string) (int, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String() + errb.String()
}

func TestExitCodesFollowTheContract(t *testing.T) {
	cases := []struct {
		args []string
		want int
	}{
		{[]string{"version"}, exitOK},
		{[]string{"no-such-command"}, exitUsage},
		{[]string{"vote"}, exitUsage}, // required flags missing
		{[]string{"bench", "--prepare-only", "--devnet", "/no/such/devnet.json"}, exitUsage}, // nowhere to write the tokens
		{[]string{"results", "--ballot", "not-hex"}, exitUsage},                              // a malformed id
		{[]string{"node", "--home", t.TempDir()}, exitUsage},                                 // no genesis in the home
		{[]string{"receipt", "verify", "/no/such/receipt.json"}, exitFailed},                 // a check cannot be made
		{[]string{"results", "--node", "http://127.0.0.1:1", "--ballot", strings.Repeat("ab", 32)}, exitFailed},
	}
	for _, c := range cases {
		if got, out := runCLI(c.args...); got != c.want {
			t.Errorf("cocorico %v: exit %d, want %d\n%s", c.args, got, c.want, out)
		}
	}
}

// receipt verify exits 0 for the valid receipt of docs/vectors and 1 for
// the same receipt with one byte changed, naming the failed check.
func TestReceiptVerifyExitsOneOnATamperedReceipt(t *testing.T) {
	genesis := "../../docs/vectors/genesis.json"
	data, err := os.ReadFile("../../docs/vectors/receipt.json")
	if err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI("receipt", "verify", "../../docs/vectors/receipt.json", "--genesis", genesis); code != exitOK {
		t.Fatalf("valid receipt: exit %d\n%s", code, out)
	}
	var r map[string]any
	json.Unmarshal(data, &r)
	r["height"] = 2
	bad, _ := json.Marshal(r)
	path := filepath.Join(t.TempDir(), "tampered.json")
	os.WriteFile(path, bad, 0o600)
	code, out := runCLI("receipt", "verify", path, "--genesis", genesis)
	if code != exitFailed || !strings.Contains(out, "✗") {
		t.Fatalf("tampered receipt: exit %d\n%s", code, out)
	}
}

// TestReceiptWithADuplicateKeyIsRefused: docs/vectors' receipt with
// "choice": 2 written before its "choice": 0 would verify (encoding/json
// keeps the last key) while another reader shows 2; the CLI refuses it.
func TestReceiptWithADuplicateKeyIsRefused(t *testing.T) {
	data, err := os.ReadFile("../../docs/vectors/receipt.json")
	if err != nil {
		t.Fatal(err)
	}
	twice := strings.Replace(string(data), `"choice": 0`, `"choice": 2, "choice": 0`, 1)
	if twice == string(data) {
		t.Fatal(`no "choice": 0 in the vector receipt`)
	}
	path := filepath.Join(t.TempDir(), "twice.json")
	if err := os.WriteFile(path, []byte(twice), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI("receipt", "verify", path, "--genesis", "../../docs/vectors/genesis.json")
	if code == exitOK || !strings.Contains(out, "duplicate key") {
		t.Fatalf("receipt with choice twice: exit %d\n%s", code, out)
	}
}

// bench --ceiling alone measures C on this machine and prints it with the
// core count it multiplied, and what all cores verifying at once gave by
// the wall clock, then stops without a network.
func TestBenchCeilingAlonePrintsCAndWhatAllCoresGave(t *testing.T) {
	code, out := runCLI("bench", "--ceiling", "--ceiling-time", "50ms")
	if code != exitOK || !strings.Contains(out, "ceiling C = ") || !strings.Contains(out, "casts/s") ||
		!regexp.MustCompile(`cores verifying at once: [1-9][0-9]* casts/s by the wall clock`).MatchString(out) {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
