package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
)

var (
	measureRegistrar = flag.Bool("registrar.measure", false, "measure a registrar under code guessing (guesses/s, RSS); slow")
	measureBinary    = flag.String("registrar.binary", "", "the cocorico binary whose registrar is measured (default: this tree's), e.g. an older build to compare")
	measureFor       = flag.Duration("registrar.for", 5*time.Second, "how long the guesser runs for each hash setting")
)

// TestMeasureRegistrarUnderGuessing is a measurement, not a check: it
// runs a registrar process against a one-validator devnet and reports how
// many wrong codes a scripted guesser gets checked per second (demo and
// default hash costs) and the registrar's peak RSS under 150 concurrent
// wrong codes (default cost), from one address and from 150 loopback
// addresses. Traffic stays on 127.0.0.0/8 and every loop is bounded.
//
//	go test ./cmd/cocorico -run TestMeasureRegistrarUnderGuessing -registrar.measure -v [-registrar.binary OLD]
func TestMeasureRegistrarUnderGuessing(t *testing.T) {
	if !*measureRegistrar {
		t.Skip("a measurement: run with -registrar.measure")
	}
	bin := *measureBinary
	if bin == "" {
		bin = binary(t)
	}
	dir := t.TempDir()
	devnet, info := startDevnetProcess(t, dir, 1)
	defer func() { devnet.Process.Kill(); devnet.Wait() }()
	var roll strings.Builder
	// g000-g009 for the guesser; g010-g309 for the two bursts, so that no
	// lockout of the guesser's ids hides their cost.
	for i := range 310 {
		fmt.Fprintf(&roll, "g%03d,code%03d\n", i, i)
	}
	os.WriteFile(filepath.Join(dir, "guess-roll.csv"), []byte(roll.String()), 0o600)
	for _, demo := range []bool{true, false} {
		name := map[bool]string{true: "demo", false: "default"}[demo]
		t.Run(name, func(t *testing.T) {
			reg, pid := startMeasuredRegistrar(t, bin, dir, name, info.Nodes[0].API, demo)
			body := guessBody(t, finalTestBallot(t, dir, info.Nodes[0].API, reg))
			counts := guess(reg, body, 16, *measureFor, func(int) net.IP { return net.IPv4(127, 0, 0, 1) }, func(i int) int { return i % 10 })
			t.Logf("%s hash, one address, 16 workers, %v: %.1f wrong codes checked/s; answers %v", name, *measureFor,
				float64(counts[http.StatusForbidden])/measureFor.Seconds(), counts)
			if demo {
				return
			}
			before := peakRSS(t, pid)
			for k, spread := range []int{1, 150} {
				counts := burst(reg, body, 150, func(i int) net.IP { return net.IPv4(127, 0, 1, byte(1+i%spread)) }, func(i int) int { return 10 + 150*k + i })
				t.Logf("150 concurrent wrong codes from %d address(es): answers %v; peak RSS %d MiB (before the bursts %d MiB)",
					spread, counts, peakRSS(t, pid)>>20, before>>20)
			}
		})
	}
}

func startMeasuredRegistrar(t *testing.T, bin, dir, name, nodeURL string, demo bool) (url string, pid int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{"registrar", "serve", "--home", filepath.Join(dir, "guess-"+name), "--node", nodeURL,
		"--roll", filepath.Join(dir, "guess-roll.csv"), "--listen", addr, "--log-level", "error"}
	if demo {
		args = append(args, "--demo-hash")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), adminTokenEnv+"="+clusterAdminToken) // an older build ignores it
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	startChild(t, cmd, "")
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/v1/status"); err == nil {
			resp.Body.Close()
			return "http://" + addr, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatal("registrar not up")
		}
	}
}

// guessBody is a well-formed token request with a wrong code.
func guessBody(t *testing.T, b *ballot.Ballot) []byte {
	tr, err := ballot.NewTokenRequest(rand.Reader, b.Keys[0], b.ID, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(registrarapi.TokenRequest{BallotID: b.ID, VoterID: "g000", Code: "wrong", Blinded: tr.Blinded})
	return data
}

// clientFrom is an HTTP client whose connections leave from ip.
func clientFrom(ip net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

func post(hc *http.Client, url string, body []byte, voter int) int {
	b := bytes.Replace(body, []byte(`"g000"`), fmt.Appendf(nil, `"g%03d"`, voter), 1)
	resp, err := hc.Post(url+"/v1/tokens", "application/json", bytes.NewReader(b))
	if err != nil {
		return 0 // counted as status 0: no answer
	}
	io.Copy(io.Discard, resp.Body) // so that the connection is used again
	resp.Body.Close()
	return resp.StatusCode
}

// guess runs workers guessing for d, voter ids in turn, and counts answers by status.
func guess(url string, body []byte, workers int, d time.Duration, from func(int) net.IP, voter func(int) int) map[int]int {
	var mu sync.Mutex
	counts := map[int]int{}
	var next atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			hc := clientFrom(from(w))
			for time.Now().Before(end) {
				s := post(hc, url, body, voter(int(next.Add(1))))
				mu.Lock()
				counts[s]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts
}

// burst sends n wrong codes at once and counts answers by status.
func burst(url string, body []byte, n int, from func(int) net.IP, voter func(int) int) map[int]int {
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := post(clientFrom(from(i)), url, body, voter(i))
			mu.Lock()
			counts[s]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return counts
}

// peakRSS is a process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}
