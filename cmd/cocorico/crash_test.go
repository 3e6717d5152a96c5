package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/node"
)

// buildBinary builds the cocorico command once for the tests that run it
// as a child process.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cocorico-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "cocorico")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// startDevnetProcess runs `cocorico devnet` as a child and waits for its
// devnet.json.
func startDevnetProcess(t *testing.T, dir string, validators int, flags ...string) (*exec.Cmd, node.DevnetInfo) {
	t.Helper()
	os.Remove(filepath.Join(dir, "devnet.json"))
	cmd := exec.Command(binary(t), append([]string{"devnet", "--dir", dir, "--validators", fmt.Sprint(validators), "--api-port", "0", "--voters", "400",
		"--log-level", "warn"}, flags...)...)
	logf, err := os.OpenFile(filepath.Join(dir, "devnet.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	startChild(t, cmd, logf.Name())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	deadline := time.Now().Add(90 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(dir, "devnet.json"))
		if err == nil {
			var info node.DevnetInfo
			if err := json.Unmarshal(data, &info); err != nil {
				t.Fatal(err)
			}
			return cmd, info
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "devnet.log"))
			t.Fatalf("devnet not ready in 90 s:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readRoll reads the devnet's voter roll (DevnetInfo.Voters).
func readRoll(t *testing.T, path string) []registrar.RollEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	roll, err := registrar.ParseRoll(f)
	if err != nil {
		t.Fatal(err)
	}
	return roll
}

// A node killed with SIGKILL while casts are being committed loses no
// cast whose receipt was handed out, and its ledger replays consistently.
func TestSIGKILLDuringCommitsLosesNoCastWhoseReceiptWasHandedOut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a child process")
	}
	dir := t.TempDir()
	cmd, info := startDevnetProcess(t, dir, 1)
	roll := readRoll(t, info.Voters)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var receipts []*ballot.Receipt
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(roll) {
					return
				}
				w, _ := client.OpenWallet(filepath.Join(dir, "wallets", fmt.Sprintf("%d.json", i)))
				res, err := client.Vote(ctx, client.VoteRequest{Node: client.NewNode(info.Nodes[0].API), Registrar: client.NewRegistrar(info.Registrar, ""),
					BallotID: info.Ballot, VoterID: roll[i].VoterID, Code: roll[i].Code, Choice: "for", Wallet: w, Rand: rand.Reader,
					Poll: 20 * time.Millisecond})
				if err == nil {
					mu.Lock()
					receipts = append(receipts, res.Receipt)
					mu.Unlock()
				}
			}
		}()
	}
	// Let votes flow, then kill the node in the middle of them.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(receipts)
		mu.Unlock()
		if n >= 60 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d votes in 60 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	cancel()
	wg.Wait()
	mu.Lock()
	handedOut := append([]*ballot.Receipt(nil), receipts...)
	mu.Unlock()
	t.Logf("%d receipts handed out before SIGKILL", len(handedOut))

	cmd, info = startDevnetProcess(t, dir, 1)
	n := client.NewNode(info.Nodes[0].API)
	vctx, vcancel := context.WithTimeout(context.Background(), time.Minute)
	defer vcancel()
	for _, r := range handedOut {
		st, err := n.CastStatus(vctx, r.CastID)
		if err != nil || st.Status != api.CastFinal {
			t.Fatalf("cast %s after restart: %+v %v", r.CastID, st, err)
		}
		v, err := n.VerifyReceipt(vctx, r)
		if err != nil || !v.Valid {
			t.Fatalf("receipt %s after restart: %+v %v", r.CastID, v, err)
		}
	}
	// Stop it cleanly and recount the ledger from block 1, its state in
	// memory and in a scratch ledger.
	stopChild(t, cmd, syscall.SIGTERM)
	home := filepath.Join(dir, "validator-0")
	for _, extra := range [][]string{nil, {"--on-disk"}} {
		args := append([]string{"recount", "--home", home, "--ballot", info.Ballot.String()}, extra...)
		out, err := exec.Command(binary(t), args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "the recount agrees with the committed results") {
			t.Fatalf("recount %v after the crash: %v\n%s", extra, err, out)
		}
	}
	if _, err := os.Stat(node.Home(home).RecountDir()); !os.IsNotExist(err) {
		t.Fatalf("recount --on-disk left its scratch ledger: %v", err)
	}
}
