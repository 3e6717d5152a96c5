//go:build e2e_docker

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node"
)

var (
	nodes     = []string{"validator-0", "validator-1", "validator-2", "validator-3", "volunteer-0", "volunteer-1"}
	registrar = "http://127.0.0.1:18090"
	network   = "cocorico_cocorico"
	// splitNetwork holds one side of the 2 | 2 split.
	splitNetwork = "cocorico_split"
	short        = os.Getenv("E2E_SHORT") != ""
)

func apiURL(name string) string {
	for i, n := range nodes {
		if n == name {
			return fmt.Sprintf("http://127.0.0.1:%d", 18080+i)
		}
	}
	panic(name)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func docker(t *testing.T, args ...string) string { return run(t, "docker", args...) }

// Result is one perturbation's line in the report.
// AgreeSeconds is the time from the fault's end until every node reports
// the same height, block hash and results at a height above the highest
// one at the fault's end (the chain moves again).
type Result struct {
	Perturbation   string  `json:"perturbation"`
	FaultSeconds   float64 `json:"fault_seconds"`
	AgreeSeconds   float64 `json:"seconds_to_agreement_after_fault"`
	Height         uint64  `json:"height_after"`
	ReceiptsDuring int     `json:"receipts_handed_out_during"`
	RoundChanges   float64 `json:"round_changes_during"` // validator-0's counter (reset when it restarts)
	MinPeers       float64 `json:"min_peers_of_validator_0"`
	Note           string  `json:"note,omitempty"`
}

// Report is the suite's outcome, printed and written as JSON.
type Report struct {
	Results        []Result `json:"results"`
	ReceiptsTotal  int      `json:"receipts_handed_out"`
	ReceiptsLost   int      `json:"receipts_lost"`
	Forks          int      `json:"forks"`
	FinalHeight    uint64   `json:"final_height"`
	BlocksCompared uint64   `json:"blocks_compared_per_node"`
}

type load struct {
	mu       sync.Mutex
	receipts []*ballot.Receipt
	next     int
	cancel   context.CancelFunc
	done     chan struct{}
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.receipts)
}

// steady votes continuously through every node in turn, keeping the
// receipts handed out.
func steady(t *testing.T, dir string, ballotID consensus.Hash) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				l.mu.Lock()
				i := l.next
				l.next++
				l.mu.Unlock()
				id := fmt.Sprintf("voter-%04d", i+1)
				wallet, _ := client.OpenWallet(filepath.Join(dir, id+".json"))
				vctx, vcancel := context.WithTimeout(ctx, 60*time.Second)
				res, err := client.Vote(vctx, client.VoteRequest{Node: client.NewNode(apiURL(nodes[(i+w)%len(nodes)])),
					Registrar: client.NewRegistrar(registrar, ""), BallotID: ballotID, VoterID: id, Code: fmt.Sprintf("code-%04d", i+1),
					Choice: []string{"for", "against", "abstention"}[i%3], Wallet: wallet, Rand: rand.Reader, Poll: 100 * time.Millisecond})
				vcancel()
				if err == nil {
					l.mu.Lock()
					l.receipts = append(l.receipts, res.Receipt)
					l.mu.Unlock()
				} else if ctx.Err() == nil {
					time.Sleep(200 * time.Millisecond) // a node down: try the next one
				}
			}
		}()
	}
	go func() { wg.Wait(); close(l.done) }()
	return l
}

func status(name string) (*api.StatusView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return client.NewNode(apiURL(name)).Status(ctx)
}

// agreement waits until the given nodes report one height with the same
// last block hash and the same results; it returns how long that took.
func agreement(t *testing.T, ballotID consensus.Hash, names []string, limit time.Duration) (time.Duration, uint64) {
	return agreementAbove(t, ballotID, names, 0, limit)
}

// agreementAbove is agreement at a height above floor: with casts still
// coming, it shows that the chain moves again, not only that it agrees.
func agreementAbove(t *testing.T, ballotID consensus.Hash, names []string, floor uint64, limit time.Duration) (time.Duration, uint64) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		var h uint64
		var hash consensus.Hash
		var counts string
		ok := true
		for i, n := range names {
			st, err := status(n)
			if err != nil {
				ok = false
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r, err := client.NewNode(apiURL(n)).Results(ctx, ballotID)
			cancel()
			if err != nil {
				ok = false
				break
			}
			c := fmt.Sprint(r.Choices)
			if i == 0 {
				h, hash, counts = st.Height, st.LastBlockHash, c
			} else if st.Height != h || st.LastBlockHash != hash || c != counts {
				ok = false
				break
			}
		}
		if ok && h > floor {
			return time.Since(start), h
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%v did not agree within %s", names, limit)
	return 0, 0
}

func metric(name, metricName string) float64 {
	resp, err := http.Get(apiURL(name) + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, metricName+" ") {
			v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return v
		}
	}
	return -1
}

func TestClusterUnderFaults(t *testing.T) {
	deployDir, _ := filepath.Abs("..")
	run(t, filepath.Join(deployDir, "down.sh"))
	run(t, filepath.Join(deployDir, "up.sh"))
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range append(nodes, "registrar") {
				out, _ := exec.Command("docker", "logs", "--tail", "30", "cocorico-"+n).CombinedOutput()
				t.Logf("%s:\n%s", n, out)
			}
		}
		// Containers made by docker run (file perturbations) are not compose's.
		for _, n := range nodes {
			exec.Command("docker", "rm", "-f", "cocorico-"+n).Run()
		}
		exec.Command(filepath.Join(deployDir, "down.sh")).Run()
	})
	ctx := context.Background()
	g, err := node.ReadGenesis(filepath.Join(deployDir, "net", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join(deployDir, "net", "registrar-admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := client.NewRegistrar(registrar, strings.TrimSpace(string(token))).NewKey(ctx, ballot.KeyBits2048)
	if err != nil {
		t.Fatal(err)
	}
	org, err := node.LoadKey(filepath.Join(deployDir, "net", "organizer.key")) // written by testnet, named in the genesis
	if err != nil {
		t.Fatal(err)
	}
	// No URL: the registrar's address inside the compose network is no
	// https URL voters could use (clients here are given it directly).
	def := &ballot.Definition{ChainID: g.ChainID, GenesisHash: g.Hash(), Question: "Does the cluster survive?", Choices: []string{"for", "against", "abstention"},
		Opens: time.Now().UnixMilli(), Closes: time.Now().Add(24 * time.Hour).UnixMilli(), Revote: true,
		Registrars: []ballot.Registrar{{Name: "compose registrar", Key: k.PublicKey}}}
	def.Sign(org)
	ballotID, err := client.NewNode(apiURL("validator-0")).SubmitDefinition(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := client.NewNode(apiURL("validator-0")).Ballot(ctx, ballotID); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	l := steady(t, t.TempDir(), ballotID)
	rep := &Report{}
	perturb := func(name string, fault func() string, settle time.Duration) {
		t.Helper()
		before := l.count()
		rounds := metric("validator-0", "cocorico_consensus_round_changes_total")
		minPeers := metric("validator-0", "cocorico_peers")
		start := time.Now()
		note := fault()
		faultTime := time.Since(start)
		if p := metric("validator-0", "cocorico_peers"); p >= 0 && p < minPeers {
			minPeers = p
		}
		var top uint64
		for _, n := range nodes {
			if st, err := status(n); err == nil {
				top = max(top, st.Height)
			}
		}
		took, h := agreementAbove(t, ballotID, nodes, top, settle)
		r := Result{Perturbation: name, FaultSeconds: faultTime.Seconds(), AgreeSeconds: took.Seconds(), Height: h,
			ReceiptsDuring: l.count() - before, MinPeers: minPeers, Note: note}
		if after := metric("validator-0", "cocorico_consensus_round_changes_total"); after >= 0 && rounds >= 0 {
			r.RoundChanges = after - rounds
			if after < rounds { // validator-0 restarted: its counter began again
				r.RoundChanges = after
			}
		}
		rep.Results = append(rep.Results, r)
		t.Logf("%-42s fault %5.1fs · agreement %5.1fs after · height %d · %d receipts during · %g round changes %s",
			name, r.FaultSeconds, r.AgreeSeconds, h, r.ReceiptsDuring, r.RoundChanges, note)
	}
	wait := func(d time.Duration) {
		if short {
			d /= 2
		}
		time.Sleep(d) // the fault lasts this long: the point of the perturbation
	}
	agreement(t, ballotID, nodes, 60*time.Second)
	wait(5 * time.Second)

	perturb("SIGKILL a validator and restart it", func() string {
		docker(t, "kill", "-s", "KILL", "cocorico-validator-1")
		wait(5 * time.Second)
		docker(t, "start", "cocorico-validator-1")
		return ""
	}, 60*time.Second)

	perturb("pause a validator for 20 s", func() string {
		docker(t, "pause", "cocorico-validator-2")
		wait(20 * time.Second)
		docker(t, "unpause", "cocorico-validator-2")
		return ""
	}, 60*time.Second)

	perturb("cut a validator off the network, reconnect", func() string {
		docker(t, "network", "disconnect", network, "cocorico-validator-3")
		wait(10 * time.Second)
		docker(t, "network", "connect", "--alias", "validator-3", network, "cocorico-validator-3")
		return ""
	}, 60*time.Second)

	perturb("split 2 | 2: the chain halts, never forks", func() string {
		// Validators 2 and 3 move to a network of their own: each pair
		// still talks within itself, neither reaches the other.
		exec.Command("docker", "network", "rm", splitNetwork).Run()
		docker(t, "network", "create", "--internal", splitNetwork)
		defer exec.Command("docker", "network", "rm", splitNetwork).Run()
		for _, v := range []string{"validator-2", "validator-3"} {
			docker(t, "network", "connect", "--alias", v, splitNetwork, "cocorico-"+v)
		}
		docker(t, "network", "disconnect", network, "cocorico-validator-2")
		docker(t, "network", "disconnect", network, "cocorico-validator-3")
		wait(4 * time.Second)
		mid, _ := status("validator-0")
		wait(10 * time.Second)
		end, _ := status("validator-0")
		note := ""
		if mid != nil && end != nil {
			note = fmt.Sprintf("(height %d → %d during the split: halted=%v)", mid.Height, end.Height, mid.Height == end.Height)
			if end.Height != mid.Height {
				t.Errorf("the chain moved from %d to %d with 2 of 4 validators", mid.Height, end.Height)
			}
		}
		for _, v := range []string{"validator-2", "validator-3"} {
			docker(t, "network", "connect", "--alias", v, network, "cocorico-"+v)
			docker(t, "network", "disconnect", splitNetwork, "cocorico-"+v)
		}
		return note
	}, 90*time.Second)

	perturb("restart every node at once", func() string {
		args := []string{"restart", "-t", "5"}
		for _, n := range nodes {
			args = append(args, "cocorico-"+n)
		}
		docker(t, args...)
		return ""
	}, 90*time.Second)

	perturb("wipe a volunteer's volume; it rejoins from height 1", func() string {
		docker(t, "stop", "cocorico-volunteer-1")
		data := filepath.Join(deployDir, "net", "volunteer-1", "data")
		if err := os.RemoveAll(data); err != nil {
			t.Fatal(err)
		}
		docker(t, "start", "cocorico-volunteer-1")
		return ""
	}, 120*time.Second)

	perturb("truncate a stopped validator's files", func() string {
		docker(t, "stop", "cocorico-validator-0")
		home := filepath.Join(deployDir, "net", "validator-0", "data")
		state := filepath.Join(home, "consensus", "consensus_state.json")
		good, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(state, good[:len(good)-7], 0o600)
		logs, _ := filepath.Glob(filepath.Join(home, "ledger", "*.log"))
		for _, lf := range logs {
			if st, err := os.Stat(lf); err == nil && st.Size() > 16 {
				os.Truncate(lf, st.Size()-16)
			}
		}
		exec.Command("docker", "start", "cocorico-validator-0").Run()
		refused := ""
		for range 50 {
			out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", "cocorico-validator-0").Output()
			if strings.HasPrefix(string(out), "false") {
				logs, _ := exec.Command("docker", "logs", "--tail", "3", "cocorico-validator-0").CombinedOutput()
				refused = strings.TrimSpace(string(logs))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if refused == "" {
			t.Errorf("validator-0 started with a truncated consensus state file")
		} else if !strings.Contains(refused, "consensus state file corrupt") {
			t.Errorf("validator-0 refused to start without the clear message: %s", refused)
		}
		// The operator restores the validator's own state file; the ledger
		// recovered its truncated log by itself.
		os.WriteFile(state, good, 0o600)
		docker(t, "start", "cocorico-validator-0")
		return "(refused to start: consensus state file corrupt; started once restored)"
	}, 120*time.Second)

	filePerturbations(t, deployDir, perturb, wait)

	l.cancel()
	<-l.done
	final, height := agreement(t, ballotID, nodes, 60*time.Second)
	_ = final
	rep.FinalHeight, rep.BlocksCompared = height, height
	// Every receipt handed out is final on every node; no fork anywhere.
	rep.ReceiptsTotal = len(l.receipts)
	for _, r := range l.receipts {
		for _, n := range nodes {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			v, err := client.NewNode(apiURL(n)).VerifyReceipt(ctx, r)
			cancel()
			if err != nil || !v.Valid {
				rep.ReceiptsLost++
				t.Errorf("receipt %s not valid on %s: %v", r.CastID, n, err)
				break
			}
		}
	}
	for hh := uint64(1); hh <= height; hh++ {
		var want consensus.Hash
		for i, n := range nodes {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			b, err := client.NewNode(apiURL(n)).Block(ctx, hh)
			cancel()
			if err != nil {
				t.Fatalf("block %d on %s: %v", hh, n, err)
			}
			if i == 0 {
				want = b.Hash
			} else if b.Hash != want {
				rep.Forks++
				t.Errorf("FORK at %d: %s has %s", hh, n, b.Hash)
			}
		}
	}
	data, _ := json.MarshalIndent(rep, "", "  ")
	out := os.Getenv("E2E_REPORT")
	if out == "" {
		out = filepath.Join(deployDir, "e2e-report.json")
	}
	os.WriteFile(out, append(data, '\n'), 0o644)
	t.Logf("report (%s):\n%s", out, data)
	for _, r := range rep.Results {
		if r.AgreeSeconds > 20 {
			t.Logf("note: %q took %.1f s to agree (goal 20 s)", r.Perturbation, r.AgreeSeconds)
		}
	}
}
