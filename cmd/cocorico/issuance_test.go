package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/node"
)

var (
	measureIssuance  = flag.Bool("issuance.measure", false, "measure the registrar's token issuance over HTTP (tokens/s); slow")
	issuanceBaseline = flag.String("issuance.baseline", "", "a cocorico binary (e.g. main's) measured in the same run, for a ratio")
	issuanceVoters   = flag.Int("issuance.voters", 6000, "tokens issued per measured registrar")
	issuanceWorkers  = flag.Int("issuance.workers", 32, "concurrent token requests")
	issuanceRounds   = flag.Int("issuance.rounds", 3, "rounds, each build measured once per round")
)

// TestMeasureIssuance is a measurement, not a check: a registrar process
// (this tree's build, and -issuance.baseline's if given, in the same run)
// against a one-validator devnet issues one token to each of
// -issuance.voters voters of a roll (demo code hashes), asked by
// -issuance.workers concurrent clients over HTTP with their blinded
// messages made beforehand; it reports tokens/s and the ratio.
//
//	go test ./cmd/cocorico -run TestMeasureIssuance -issuance.measure -v [-issuance.baseline OLD]
func TestMeasureIssuance(t *testing.T) {
	if !*measureIssuance {
		t.Skip("a measurement: run with -issuance.measure")
	}
	dir := t.TempDir()
	devnet, info := startDevnetProcess(t, dir, 1)
	defer func() { devnet.Process.Kill(); devnet.Wait() }()
	var roll strings.Builder
	for i := range *issuanceVoters {
		fmt.Fprintf(&roll, "t%05d,c%05d\n", i, i)
	}
	os.WriteFile(filepath.Join(dir, "guess-roll.csv"), []byte(roll.String()), 0o600)
	builds := []struct{ name, bin string }{{"this tree", binary(t)}}
	if *issuanceBaseline != "" {
		builds = append([]struct{ name, bin string }{{"baseline", *issuanceBaseline}}, builds...)
	}
	regs := make([]string, len(builds))
	for i, b := range builds {
		regs[i], _ = startMeasuredRegistrar(t, b.bin, dir, fmt.Sprintf("issuance-%d", i), info.Nodes[0].API, true)
	}
	// Rounds alternate the builds, so that the load of the machine's
	// other work falls on both alike; each round is a fresh ballot.
	rates := make([][]float64, len(builds))
	for round := range *issuanceRounds {
		for i, b := range builds {
			ballotOf := finalTestBallot(t, dir, info.Nodes[0].API, regs[i])
			bodies := make([][]byte, *issuanceVoters)
			for v := range bodies {
				tr, err := ballot.NewTokenRequest(rand.Reader, ballotOf.Keys[0], ballotOf.ID, make([]byte, 32))
				if err != nil {
					t.Fatal(err)
				}
				bodies[v], _ = json.Marshal(registrarapi.TokenRequest{BallotID: ballotOf.ID, VoterID: fmt.Sprintf("t%05d", v),
					Code: fmt.Sprintf("c%05d", v), Blinded: tr.Blinded})
			}
			ok, took, counts := issueAll(regs[i], bodies, *issuanceWorkers)
			rate := float64(ok) / took.Seconds()
			rates[i] = append(rates[i], rate)
			t.Logf("round %d, %s: %d tokens in %v: %.0f tokens/s (answers %v)", round+1, b.name, ok, took.Round(time.Millisecond), rate, counts)
		}
	}
	for i, b := range builds {
		t.Logf("%s: median %.0f tokens/s over %d rounds", b.name, median(rates[i]), len(rates[i]))
	}
	if len(builds) == 2 {
		t.Logf("ratio this tree / baseline (medians): %.2f×", median(rates[1])/median(rates[0]))
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// finalTestBallot creates a ballot of the devnet in dir (its organizer's
// key) naming the registrar at reg, and waits until it is final.
func finalTestBallot(t *testing.T, dir, nodeURL, reg string) *ballot.Ballot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := client.NewNode(nodeURL)
	g, err := n.Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	org, err := node.LoadKey(filepath.Join(dir, "organizer.key"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := submitTestBallot(ctx, n, g, org, reg, clusterAdminToken)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, _, _ := n.Ballot(ctx, id); b != nil {
			return b
		}
		if ctx.Err() != nil {
			t.Fatal("ballot not final")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// issueAll sends every body once with workers clients and returns the
// tokens issued, the time taken and the answers by status.
func issueAll(url string, bodies [][]byte, workers int) (int, time.Duration, map[int]int) {
	var next atomic.Int64
	var mu sync.Mutex
	counts := map[int]int{}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(bodies); i = int(next.Add(1)) - 1 {
				status := 0
				if resp, err := hc.Post(url+"/v1/tokens", "application/json", bytes.NewReader(bodies[i])); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				mu.Lock()
				counts[status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts[http.StatusOK], time.Since(start), counts
}
