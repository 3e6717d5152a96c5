package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
)

// runDevnet starts a devnet in dir and returns its info and a stop
// function that waits for every part to stop.
func runDevnet(t *testing.T, dir string, validators, voters int) (DevnetInfo, func()) {
	t.Helper()
	d, err := NewDevnet(DevnetConfig{Dir: dir, Validators: validators, Voters: voters,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan DevnetInfo, 1)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, func(i DevnetInfo) { ready <- i }) }()
	select {
	case info := <-ready:
		return info, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("devnet stopped with %v", err)
			}
		}
	case err := <-done:
		cancel()
		t.Fatalf("devnet ended before it was ready: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("devnet not ready after 2 minutes")
	}
	panic("unreachable")
}

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

type voted struct {
	wallet  string
	choice  string
	receipt *ballot.Receipt
}

// The whole flow of issue 4 over real HTTP and a real Pebble directory,
// through the client code the CLI runs.
func TestTwoHundredVotersVoteReVoteAndEveryReceiptVerifiesAcrossARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := t.TempDir()
	info, stop := runDevnet(t, dir, 1, 220)
	roll := readRoll(t, info.Voters)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := client.NewNode(info.Nodes[0].API)
	reg := client.NewRegistrar(info.Registrar, "")
	choices := []string{"for", "against", "abstention"}

	vote := func(v *voted, i int) (*client.VoteResult, error) {
		w, err := client.OpenWallet(v.wallet)
		if err != nil {
			return nil, err
		}
		return client.Vote(ctx, client.VoteRequest{Node: node, Registrar: reg, BallotID: info.Ballot,
			VoterID: roll[i].VoterID, Code: roll[i].Code, Choice: v.choice, Wallet: w, Rand: rand.Reader, Poll: 50 * time.Millisecond})
	}
	voters := make([]*voted, 200)
	var wg sync.WaitGroup
	errs := make(chan error, len(voters))
	sem := make(chan struct{}, 16)
	for i := range voters {
		voters[i] = &voted{wallet: filepath.Join(dir, "wallets", fmt.Sprintf("%d.json", i)), choice: choices[i%3]}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := vote(voters[i], i)
			if err != nil {
				errs <- fmt.Errorf("voter %d: %w", i, err)
				return
			}
			voters[i].receipt = res.Receipt
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Ten voters change their minds: only their latest cast counts.
	replaced := map[consensus.Hash]bool{}
	for i := range 10 {
		v := voters[i]
		replaced[v.receipt.CastID] = true
		v.choice = choices[(i+1)%3]
		res, err := vote(v, i)
		if err != nil {
			t.Fatalf("re-vote %d: %v", i, err)
		}
		if !res.Revote || res.Seq != 2 {
			t.Fatalf("re-vote %d: revote %v seq %d", i, res.Revote, res.Seq)
		}
		old := v.receipt
		v.receipt = res.Receipt
		if st, err := node.CastStatus(ctx, old.CastID); err != nil || st.Status != api.CastReplaced {
			t.Fatalf("replaced cast status %v %v", st, err)
		}
	}

	// A second token for a voter who has one is refused, and nothing is issued.
	other := &voted{wallet: filepath.Join(dir, "wallets", "again.json"), choice: "for"}
	if _, err := vote(other, 0); !client.IsCode(err, "already_issued") {
		t.Fatalf("second token request: %v", err)
	}

	// A forged cast is refused with 400 and a code that names it.
	forged := *voters[50].receipt.Cast
	forged.Seq = 9
	forged.Token = bytes.Clone(forged.Token)
	forged.Token[10] ^= 1
	if _, err := node.SubmitCast(ctx, &forged); !client.IsCode(err, "token_invalid") {
		t.Fatalf("forged cast: %v", err)
	}
	assertHTTP(t, info.Nodes[0].API+"/v1/casts", strings.Repeat("x", 70<<10), http.StatusRequestEntityTooLarge)
	assertHTTP(t, info.Nodes[0].API+"/v1/casts", `{"ballot_id":"`+info.Ballot.String()+`","surprise":1}`, http.StatusBadRequest)

	checkResults := func() {
		t.Helper()
		want := map[string]uint64{}
		for _, v := range voters {
			want[v.choice]++
		}
		r, err := node.Results(ctx, info.Ballot)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Choices {
			if c.Count != want[c.Label] {
				t.Fatalf("results %+v, the voters chose %v", r.Choices, want)
			}
		}
		if r.Casts.Counted != 200 || r.Casts.Replaced != 10 {
			t.Fatalf("casts %+v", r.Casts)
		}
		if issued, err := client.NewRegistrar(info.Registrar, "").Issued(ctx, info.Ballot); err != nil || issued != 200 {
			t.Fatalf("the registrar says it issued %d tokens (%v), want 200", issued, err)
		}
		for _, v := range voters {
			vv, err := node.VerifyReceipt(ctx, v.receipt)
			if err != nil || !vv.Valid || !vv.Counted {
				t.Fatalf("receipt %s: %+v %v", v.receipt.CastID, vv, err)
			}
		}
	}
	checkResults()

	// A tampered receipt fails, offline and on the node, naming the check.
	tampered := *voters[7].receipt
	c := *tampered.Cast
	c.Choice = (c.Choice + 1) % 3
	tampered.Cast = &c
	g, err := node.Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := tampered.Verify(g); v.Valid || len(v.Failed()) == 0 {
		t.Fatal("tampered receipt verifies offline")
	}
	if vv, err := node.VerifyReceipt(ctx, &tampered); err != nil || vv.Valid {
		t.Fatalf("tampered receipt verifies on the node: %+v %v", vv, err)
	}
	st, err := node.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Stop everything, start again from the same folder: all still there.
	stop()
	info, stop = runDevnet(t, dir, 1, 220)
	defer stop()
	node = client.NewNode(info.Nodes[0].API)
	again, err := node.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.Height < st.Height {
		t.Fatalf("height %d after restart, was %d", again.Height, st.Height)
	}
	if b, err := node.Block(ctx, st.Height); err != nil || b.Hash != st.LastBlockHash {
		t.Fatalf("block %d after restart: %v", st.Height, err)
	}
	checkResults()
	if r, err := node.Receipt(ctx, voters[100].receipt.CastID); err != nil || r.Header.Hash() != voters[100].receipt.Header.Hash() {
		t.Fatalf("receipt after restart: %v", err)
	}
}

func assertHTTP(t *testing.T, url, body string, want int) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb api.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	if resp.StatusCode != want || eb.Error.Code == "" {
		t.Fatalf("POST %s: %d %+v, want %d with an error code", url, resp.StatusCode, eb, want)
	}
}
