package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/cocorico/node/api/client"
)

// `bench --tokens-file F --prepare-only` keeps the voters' tokens; a devnet
// started again on a copy of its folder then runs the timed window from
// that file with no registrar at all (its URL is a closed port): every
// cast final. With --ceiling, the report says what a final cast cost in
// CPU, in the devnet's one process and in the bench, and the
// verification's part of it.
func TestBenchRunsAgainOnACopyOfTheDevnetFromItsKeptTokensWithoutTheRegistrar(t *testing.T) {
	if testing.Short() {
		t.Skip("runs devnet processes")
	}
	orig, tokens := t.TempDir(), filepath.Join(t.TempDir(), "tokens")
	cmd, info := startDevnetProcess(t, orig, 1)
	if code, out := runCLI("bench", "--devnet", filepath.Join(orig, "devnet.json"), "--casts", "40", "--tokens-file", tokens, "--prepare-only"); code != exitOK ||
		!strings.Contains(out, "40 voters' tokens in "+tokens) {
		t.Fatalf("bench --prepare-only: exit %d\n%s", code, out)
	}
	// As many tokens asked as casts: each token asked is a voter of the
	// roll spent (it asked up to its concurrency, 64, more).
	if n, err := client.NewRegistrar(info.Registrar, "").Issued(context.Background(), info.Ballot); err != nil || n != 40 {
		t.Fatalf("the registrar issued %d tokens (%v) for a bench of 40 casts", n, err)
	}
	stopChild(t, cmd, syscall.SIGINT)
	copied := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", orig, copied).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.Remove(filepath.Join(copied, "devnet.json"))
	_, again := startDevnetProcess(t, copied, 1)
	if again.Ballot != info.Ballot {
		t.Fatalf("the copy runs ballot %s, the original %s", again.Ballot, info.Ballot)
	}
	code, out := runCLI("bench", "--node", again.Nodes[0].API, "--registrar", "http://127.0.0.1:1", "--ballot", again.Ballot.String(),
		"--roll", again.Voters, "--casts", "40", "--tokens-file", tokens, "--timeout", "1m", "--ceiling", "--ceiling-time", "50ms")
	if code != exitOK || !strings.Contains(out, "final 40 in") ||
		!regexp.MustCompile(`CPU per final cast +[0-9]+ µs in the nodes' 1 process \+ [0-9]+ µs in this bench = [1-9][0-9]* µs: [0-9]+ cores give at most`).MatchString(out) ||
		!regexp.MustCompile(`verifying it on the node: 1 × [0-9.]+ µs = [0-9]+ µs \(0\.[0-9]+ of it\); the rest`).MatchString(out) {
		t.Fatalf("bench from the kept tokens: exit %d\n%s", code, out)
	}
}
