package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer a daemon writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A sealed ballot from the command line, 2 of 3 keykeepers: keygen, ballot
// create --sealed, deals (keykeepers A and B by hand, C by its daemon,
// `keykeeper run`), a false complaint of B that C's daemon answers, sealed votes through `cocorico vote`, results that say
// "sealed" until the count, two shares after closing (A by hand, C by its
// daemon; B stays away), then the counts and a receipt that says what its
// cast said.
func TestSealedBallotFromTheCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a devnet process")
	}
	dir := t.TempDir()
	_, info := startDevnetProcess(t, dir, 1)
	api := info.Nodes[0].API
	var keyLines []string
	for i := range 3 {
		path := filepath.Join(dir, "kk"+string(rune('a'+i))+".json")
		code, out := runCLI("keykeeper", "keygen", "--name", "keeper "+string(rune('A'+i)), "--out", path)
		if code != exitOK {
			t.Fatalf("keygen: exit %d\n%s", code, out)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file %s: %v %v, want mode 0600", path, st.Mode(), err)
		}
		keyLines = append(keyLines, strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]))
	}
	args := []string{"ballot", "create", "--node", api, "--key", filepath.Join(dir, "organizer.key"), "--registrar", info.Registrar,
		"--registrar-token-file", info.RegistrarTokenFile, "--question", "Sealed?", "--opens", "+12s", "--closes", "+24s", "--sealed", "--threshold", "2"}
	for _, l := range keyLines {
		args = append(args, "--keykeeper", l)
	}
	code, out := runCLI(args...)
	if code != exitOK {
		t.Fatalf("ballot create --sealed: exit %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id, err := consensus.ParseHash(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("ballot id in %q: %v", out, err)
	}
	daemonCtx, stopDaemon := context.WithCancel(context.Background())
	daemonDone := make(chan struct{})
	var daemonOut lockedBuffer
	go func() {
		defer close(daemonDone)
		cmd := newKeykeeperRunCmd()
		cmd.SetArgs([]string{"--node", api, "--keys", filepath.Join(dir, "kkc.json"), "--every", "300ms"})
		cmd.SetOut(&daemonOut)
		cmd.SetErr(&daemonOut)
		cmd.ExecuteContext(daemonCtx)
	}()
	t.Cleanup(func() { stopDaemon(); <-daemonDone })
	for i := range 2 {
		code, out := runCLI("keykeeper", "deal", "--node", api, "--keys", filepath.Join(dir, "kk"+string(rune('a'+i))+".json"), "--ballot", id.String())
		if code != exitOK || !strings.Contains(out, "deal sent") {
			t.Fatalf("keykeeper deal %d: exit %d\n%s", i, code, out)
		}
	}
	n := client.NewNode(api)
	ctx := context.Background()
	waitFor(t, "three deals", 8*time.Second, func() bool {
		v, err := n.Keyring(ctx, id)
		return err == nil && len(v.Keyring.Deals) == 3
	})
	// Keykeeper B complains, falsely, against C's deal: C's daemon answers
	// with the share in clear and C's deal stays qualified.
	kkb, err := client.LoadKeykeeperKeys(filepath.Join(dir, "kkb.json"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := n.Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &ballot.Complaint{BallotID: id, Keykeeper: 1, Against: 2}
	c.Sign(g.Chain(), kkb.Sign())
	if _, err := n.SubmitKeykeeper(ctx, &ballot.Tx{Complaint: c}); err != nil {
		t.Fatalf("B's complaint: %v", err)
	}
	waitFor(t, "C's daemon answers the complaint", 8*time.Second, func() bool {
		v, err := n.Keyring(ctx, id)
		return err == nil && len(v.Keyring.Answers) == 1 && len(v.Qualified) == 3 && v.ElectionKey != nil
	})
	_, bv, _ := n.Ballot(ctx, id)
	waitFor(t, "the opening", 15*time.Second, func() bool { return time.Now().After(bv.OpensAt.Add(time.Second)) })

	roll := readRoll(t, info.Voters)
	castID := regexp.MustCompile(`final: cast ([0-9a-f]{64})`)
	var casts []consensus.Hash
	for i, choice := range []string{"for", "against", "against"} {
		code, out := runCLI("vote", "--node", api, "--registrar", info.Registrar, "--ballot", id.String(), "--voter", roll[i].VoterID,
			"--code", roll[i].Code, "--choice", choice, "--wallet", filepath.Join(dir, "wallet.json"), "--receipt", filepath.Join(dir, "r.json"))
		m := castID.FindStringSubmatch(out)
		if code != exitOK || !strings.Contains(out, "choice sealed") || m == nil {
			t.Fatalf("sealed vote %d: exit %d\n%s", i, code, out)
		}
		h, _ := consensus.ParseHash(m[1])
		casts = append(casts, h)
	}
	code, out = runCLI("results", "--node", api, "--ballot", id.String())
	if code != exitOK || !strings.Contains(out, "sealed until the keykeepers count") || strings.Contains(out, "against ") {
		t.Fatalf("results of an open sealed ballot: exit %d\n%s", code, out)
	}
	waitFor(t, "the closing", 25*time.Second, func() bool { return time.Now().After(bv.ClosesAt.Add(2 * time.Second)) })
	for _, kk := range []string{"kka.json"} {
		code, out := runCLI("keykeeper", "share", "--node", api, "--keys", filepath.Join(dir, kk), "--ballot", id.String())
		if code != exitOK || !strings.Contains(out, "share sent") {
			t.Fatalf("keykeeper share %s: exit %d\n%s", kk, code, out)
		}
	}
	waitFor(t, "the count, keykeeper C's share sent by its daemon", 10*time.Second, func() bool {
		v, err := n.Results(ctx, id)
		return err == nil && !v.Sealed && len(v.Choices) == 3
	})
	code, out = runCLI("results", "--node", api, "--ballot", id.String(), "--format", "csv")
	if code != exitOK || !strings.Contains(out, ",for,1\n") || !strings.Contains(out, ",against,2\n") || !strings.Contains(out, ",abstention,0\n") {
		t.Fatalf("results after the count: exit %d\n%s", code, out)
	}
	if d := daemonOut.String(); !strings.Contains(d, "deal sent") || !strings.Contains(d, "answer to keykeeper 1's complaint sent") || !strings.Contains(d, "share sent") {
		t.Fatalf("the daemon's log says no deal or no share:\n%s", d)
	}
	rec, err := n.Receipt(ctx, casts[1])
	if err != nil {
		t.Fatal(err)
	}
	vv, err := n.VerifyReceipt(ctx, rec)
	if err != nil || !vv.Valid || vv.SealedChoice == nil || *vv.SealedChoice != 1 {
		t.Fatalf("receipt of the second sealed cast after the count: %+v, %v; want valid, sealed_choice 1", vv, err)
	}
}
