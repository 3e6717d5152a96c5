package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node"
	"github.com/cocorico/node/p2p"
	"github.com/libp2p/go-libp2p/core/peer"
)

// freeBase returns a port p such that p..p+n-1 are free on loopback for
// TCP and UDP. It picks them below the kernel's ephemeral range
// (ip_local_port_range), which it hands out for every listen on port 0 and
// every outgoing connection of any process: a port found free there could
// be taken by another test's host before the node binds it.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	const floor = 10000
	if low-n <= floor {
		low = 65000 // an unusual range: try anywhere above the floor
	}
	for try := 0; try < 200; try++ {
		base := floor + mrand.IntN(low-n-floor)
		ok := true
		for p := base; p < base+n && ok; p++ {
			tl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			tl.Close()
			ul, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			ul.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// cluster is a network of real `cocorico node` processes on loopback.
type cluster struct {
	t       *testing.T
	dir     string
	names   []string
	procs   map[string]*exec.Cmd
	apis    map[string]string
	p2ps    map[string]string
	genesis *consensus.Genesis
	reg     string
	ballot  consensus.Hash
	roll    []struct{ id, code string }
	next    int
}

func newCluster(t *testing.T, validators, volunteers int) *cluster {
	t.Helper()
	dir := t.TempDir()
	n := validators + volunteers
	// One run of free ports for both: two runs picked apart could
	// overlap (a validator's API on another's p2p port: "address already
	// in use", a flaky start).
	p2pBase := freeBase(t, 2*n+1)
	apiBase := p2pBase + n
	out, err := exec.Command(binary(t), "testnet", "--validators", fmt.Sprint(validators), "--volunteers", fmt.Sprint(volunteers),
		"--out", dir, "--p2p-base-port", fmt.Sprint(p2pBase), "--api-base-port", fmt.Sprint(apiBase)).CombinedOutput()
	if err != nil {
		t.Fatalf("testnet: %v\n%s", err, out)
	}
	c := &cluster{t: t, dir: dir, procs: map[string]*exec.Cmd{}, apis: map[string]string{}, p2ps: map[string]string{}}
	for i := range n {
		name := fmt.Sprintf("validator-%d", i)
		if i >= validators {
			name = fmt.Sprintf("volunteer-%d", i-validators)
		}
		c.names = append(c.names, name)
		h := node.Home(filepath.Join(dir, name))
		fc, err := h.ReadFileConfig()
		if err != nil {
			t.Fatal(err)
		}
		c.apis[name] = "http://" + fc.API
		k, err := node.LoadKey(h.KeyPath())
		if err != nil {
			t.Fatal(err)
		}
		id, _ := p2p.PeerID(k.Public().(ed25519.PublicKey))
		c.p2ps[name] = fc.Listen[0] + "/p2p/" + id.String()
	}
	if c.genesis, err = node.ReadGenesis(filepath.Join(dir, "genesis.json")); err != nil {
		t.Fatal(err)
	}
	// The registrar's roll.
	var roll strings.Builder
	for i := range 400 {
		id, code := fmt.Sprintf("v%03d", i), fmt.Sprintf("code%03d", i)
		c.roll = append(c.roll, struct{ id, code string }{id, code})
		fmt.Fprintf(&roll, "%s,%s\n", id, code)
	}
	os.WriteFile(filepath.Join(dir, "roll.csv"), []byte(roll.String()), 0o600)
	c.reg = fmt.Sprintf("127.0.0.1:%d", apiBase+n)
	t.Cleanup(c.stopAll)
	return c
}

func (c *cluster) start(name string, flags ...string) {
	c.t.Helper()
	c.launch(name, flags...)
	c.waitUp(c.apis[name])
}

// launch starts a node's process without waiting for its API (a fenced
// validator serves it only once it has fenced).
func (c *cluster) launch(name string, flags ...string) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(binary(c.t), append([]string{"node", "--home", filepath.Join(c.dir, name), "--log-level", "warn"}, flags...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	startChild(c.t, cmd, logf.Name())
	c.procs[name] = cmd
}

// clusterAdminToken turns the test registrar's admin endpoint on.
const clusterAdminToken = "cluster-admin-token"

func (c *cluster) startRegistrar() {
	c.t.Helper()
	logf, _ := os.OpenFile(filepath.Join(c.dir, "registrar.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	cmd := exec.Command(binary(c.t), "registrar", "serve", "--home", filepath.Join(c.dir, "registrar"), "--node", c.apis["validator-0"],
		"--roll", filepath.Join(c.dir, "roll.csv"), "--listen", c.reg, "--demo-hash", "--log-level", "warn")
	cmd.Env = append(os.Environ(), adminTokenEnv+"="+clusterAdminToken)
	cmd.Stdout, cmd.Stderr = logf, logf
	startChild(c.t, cmd, logf.Name())
	c.procs["registrar"] = cmd
	c.waitUp("http://" + c.reg)
}

func (c *cluster) waitUp(url string) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/v1/status"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("%s not up in 60 s", url)
}

func (c *cluster) stop(name string, sig syscall.Signal) {
	c.t.Helper()
	if p, ok := c.procs[name]; ok {
		stopChild(c.t, p, sig)
		delete(c.procs, name)
	}
}

func (c *cluster) stopAll() {
	for name := range c.procs {
		c.stop(name, syscall.SIGTERM)
	}
	if c.t.Failed() {
		for _, n := range append(c.names, "registrar") {
			if log, err := os.ReadFile(filepath.Join(c.dir, n+".log")); err == nil && len(log) > 0 {
				c.t.Logf("%s log (tail):\n%s", n, tail(string(log), 1500))
			}
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (c *cluster) node(name string) *client.Node { return client.NewNode(c.apis[name]) }

// createBallot makes the ballot through the same client code as `ballot create`
// and waits until every running node has it.
func (c *cluster) createBallot(ctx context.Context) {
	c.t.Helper()
	org, err := node.LoadKey(filepath.Join(c.dir, "organizer.key")) // written by testnet, named in the genesis
	if err != nil {
		c.t.Fatal(err)
	}
	id, err := submitTestBallot(ctx, c.node("validator-0"), c.genesis, org, "http://"+c.reg, clusterAdminToken)
	if err != nil {
		c.t.Fatal(err)
	}
	c.ballot = id
	// Final on every running node, not only the one it went to: a vote
	// through a node that has not applied the block yet finds no ballot
	// (404), as a loaded machine showed.
	for _, name := range c.names {
		if _, running := c.procs[name]; running {
			c.eventually("the ballot final on "+name, func() bool { _, _, err := c.node(name).Ballot(ctx, id); return err == nil })
		}
	}
}

// submitTestBallot asks the registrar at regURL for a key and submits an
// hour-long ballot naming it to n (not waiting for it to be final).
func submitTestBallot(ctx context.Context, n *client.Node, g *consensus.Genesis, org ed25519.PrivateKey, regURL, adminToken string) (consensus.Hash, error) {
	k, err := client.NewRegistrar(regURL, adminToken).NewKey(ctx, ballot.KeyBits2048)
	if err != nil {
		return consensus.Hash{}, err
	}
	now := time.Now()
	def := &ballot.Definition{ChainID: g.ChainID, GenesisHash: g.Hash(), Question: "Network test?", Choices: []string{"for", "against", "abstention"},
		Opens: now.UnixMilli(), Closes: now.Add(time.Hour).UnixMilli(), Revote: true,
		Registrars: []ballot.Registrar{{Name: "test", URL: regURL, Key: k.PublicKey}}}
	def.Sign(org)
	return n.SubmitDefinition(ctx, def)
}

// vote has the next voter of the roll vote through the given node.
func (c *cluster) vote(ctx context.Context, via string, choice string) (*ballot.Receipt, error) {
	v := c.roll[c.next]
	c.next++
	w, _ := client.OpenWallet(filepath.Join(c.dir, "wallets", v.id+".json"))
	res, err := client.Vote(ctx, client.VoteRequest{Node: c.node(via), Registrar: client.NewRegistrar("http://"+c.reg, ""),
		BallotID: c.ballot, VoterID: v.id, Code: v.code, Choice: choice, Wallet: w, Rand: rand.Reader, Poll: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	return res.Receipt, nil
}

func (c *cluster) eventually(what string, cond func() bool) {
	c.t.Helper()
	c.eventuallySays(what, func() (bool, string) { return cond(), "" })
}

// eventuallySays is eventually for a condition that says what it lacks:
// a timeout says what it lacked last.
func (c *cluster) eventuallySays(what string, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, lack := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s %s", what, lack)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) height(name string) uint64 {
	st, err := c.node(name).Status(context.Background())
	if err != nil {
		return 0
	}
	return st.Height
}

// agree checks that the running nodes reach the same height with the
// same block hashes and the same results.
func (c *cluster) agree(ctx context.Context, names ...string) uint64 {
	c.t.Helper()
	var target uint64
	for _, n := range names {
		target = max(target, c.height(n))
	}
	c.eventually(fmt.Sprintf("%v at height %d", names, target), func() bool {
		for _, n := range names {
			if c.height(n) < target {
				return false
			}
		}
		return true
	})
	var want consensus.Hash
	var wantCounts string
	for i, n := range names {
		for h := uint64(1); h <= target; h++ {
			b, err := c.node(n).Block(ctx, h)
			if err != nil {
				c.t.Fatalf("%s block %d: %v", n, h, err)
			}
			if i == 0 && h == target {
				want = b.Hash
			}
			if h == target && b.Hash != want {
				c.t.Fatalf("FORK: %s has block %d = %s, %s has %s", n, h, b.Hash, names[0], want)
			}
		}
		r, err := c.node(n).Results(ctx, c.ballot)
		if err != nil {
			c.t.Fatal(err)
		}
		counts := fmt.Sprint(r.Choices)
		if r.Height == target {
			if i == 0 {
				wantCounts = counts
			} else if wantCounts != "" && counts != wantCounts {
				c.t.Fatalf("%s results %s, %s has %s", n, counts, names[0], wantCounts)
			}
		}
	}
	return target
}

// A network of real processes: 4 validators and a volunteer, casts to all
// of them, then the faults of issue 6 one after another.
func TestRealProcessesFourValidatorsAndAVolunteerAgreeAndSurviveFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network of processes")
	}
	c := newCluster(t, 4, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	validators := []string{"validator-0", "validator-1", "validator-2", "validator-3"}
	for _, v := range validators {
		c.start(v)
	}
	c.startRegistrar()
	c.createBallot(ctx)

	// Casts round-robin over the validators; the volunteer joins late.
	var receipts []*ballot.Receipt
	for i := range 8 {
		r, err := c.vote(ctx, validators[i%4], "for")
		if err != nil {
			t.Fatalf("vote %d: %v", i, err)
		}
		receipts = append(receipts, r)
	}
	t.Run("a volunteer started late catches up from height 1 and follows", func(t *testing.T) {
		c.start("volunteer-0")
		c.agree(ctx, "validator-0", "volunteer-0")
		r, err := c.vote(ctx, "volunteer-0", "against")
		if err != nil {
			t.Fatalf("vote through the volunteer: %v", err)
		}
		receipts = append(receipts, r)
		all := append(validators, "volunteer-0")
		c.agree(ctx, all...)
		for _, r := range receipts {
			for _, n := range all {
				v, err := c.node(n).VerifyReceipt(ctx, r)
				if err != nil || !v.Valid {
					t.Fatalf("receipt %s on %s: %+v %v", r.CastID, n, v, err)
				}
			}
		}
	})

	t.Run("a validator killed with SIGKILL: casts keep becoming final; it restarts and catches up", func(t *testing.T) {
		c.stop("validator-1", syscall.SIGKILL)
		for i := range 4 {
			if _, err := c.vote(ctx, []string{"validator-0", "validator-2", "validator-3", "volunteer-0"}[i], "abstention"); err != nil {
				t.Fatalf("vote with a validator down: %v", err)
			}
		}
		c.start("validator-1")
		c.agree(ctx, append(validators, "volunteer-0")...)
	})

	t.Run("two validators stopped: the chain halts without forking and resumes when one returns", func(t *testing.T) {
		c.stop("validator-2", syscall.SIGTERM)
		c.stop("validator-3", syscall.SIGTERM)
		before := c.height("validator-0")
		done := make(chan error, 1)
		go func() {
			_, err := c.vote(ctx, "validator-0", "for")
			done <- err
		}()
		time.Sleep(5 * time.Second) // the claim under test is that nothing happens for a while
		if h := c.height("validator-0"); h != before {
			t.Fatalf("height moved from %d to %d with 2 of 4 validators", before, h)
		}
		c.start("validator-2")
		if err := <-done; err != nil {
			t.Fatalf("the pending vote after the chain resumed: %v", err)
		}
		c.start("validator-3")
		c.agree(ctx, append(validators, "volunteer-0")...)
	})

	t.Run("a peer flooding invalid casts is cut off while honest casts go through", func(t *testing.T) {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		hctx, hcancel := context.WithCancel(ctx)
		defer hcancel()
		attacker, err := p2p.New(p2p.Config{Key: key, Genesis: c.genesis, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: quiet}, noHandler{})
		if err != nil {
			t.Fatal(err)
		}
		ran := make(chan error, 1)
		go func() { ran <- attacker.Run(hctx) }()
		defer func() { hcancel(); <-ran }()
		if err := attacker.Connect(ctx, c.p2ps["validator-0"]); err != nil {
			t.Fatal(err)
		}
		target, _ := p2p.PeerID(nodeKey(t, c, "validator-0"))
		deadline := time.Now().Add(60 * time.Second)
		sent := 0
		for attacker.Connected(target) {
			if time.Now().After(deadline) {
				t.Fatalf("still connected after %d invalid casts", sent)
			}
			attacker.PublishTxs(ctx, [][]byte{[]byte(fmt.Sprintf("not a cast %d", sent))})
			sent++
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("cut off after %d invalid casts", sent)
		if _, err := c.vote(ctx, "validator-0", "for"); err != nil {
			t.Fatalf("honest vote after the flood: %v", err)
		}
		c.agree(ctx, append(validators, "volunteer-0")...)
	})
}

func nodeKey(t *testing.T, c *cluster, name string) ed25519.PublicKey {
	k, err := node.LoadKey(node.Home(filepath.Join(c.dir, name)).KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	return k.Public().(ed25519.PublicKey)
}

// noHandler is the attacker's side: it takes nothing.
type noHandler struct{}

var _ p2p.Handler = noHandler{}

func (noHandler) HandleTxs([][]byte) p2p.Verdict { return p2p.Accept }
func (noHandler) HandleConsensus(_ peer.ID, _ *consensus.Message) p2p.Verdict {
	return p2p.Ignore
}
func (noHandler) HandleFinal(_ peer.ID, _ *consensus.Header, _ *consensus.Commit) p2p.Verdict {
	return p2p.Ignore
}
func (noHandler) HandleWitness(peer.ID, *consensus.Witness) p2p.Verdict          { return p2p.Ignore }
func (noHandler) Height() uint64                                                 { return 0 }
func (noHandler) SyncBlocks(uint64, int, int, p2p.Room) ([]p2p.SyncBlock, error) { return nil, nil }
func (noHandler) ConsensusMessages(uint64) []*consensus.Message                  { return nil }
