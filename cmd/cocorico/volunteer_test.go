package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// documentedCommands returns the `cocorico` command lines of the first sh
// block under heading in the markdown file, as argument lists (without
// "cocorico"), comments dropped.
func documentedCommands(t *testing.T, path, heading string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", path, heading)
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatalf("%s: no sh block under %q", path, heading)
	}
	block, _, _ = strings.Cut(block, "```")
	var out [][]string
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) > 0 && fields[0] == "cocorico" {
			out = append(out, fields[1:])
		}
	}
	return out
}

// substitute replaces the values of the given flags (placeholders of the
// doc: paths, addresses, ports) and reports which it replaced.
func substitute(args []string, values map[string]string, replaced map[string]bool) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if v, ok := values[out[i]]; ok {
			out[i+1] = v
			replaced[out[i]] = true
		}
	}
	return out
}

// OPERATIONS.md's "Join as a volunteer" commands, as written but for the
// home, the genesis file, the bootstrap address and the ports, join a
// network of four real validator processes over loopback and reach their
// height. Before issue 10 item 9 the node started no peer network without
// --listen, ignored --bootstrap and stayed at height 0.
func TestVolunteerJoinsWithTheDocumentedCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network of processes")
	}
	cmds := documentedCommands(t, "../../docs/OPERATIONS.md", "## Join as a volunteer")
	if len(cmds) != 2 || cmds[0][0] != "init" || cmds[1][0] != "node" {
		t.Fatalf("the documented commands are %q, want init then node", cmds)
	}
	c := newCluster(t, 4, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, v := range []string{"validator-0", "validator-1", "validator-2", "validator-3"} {
		c.start(v)
	}
	c.startRegistrar()
	c.createBallot(ctx) // a block or two beyond the heartbeat's

	home := filepath.Join(c.dir, "volunteer-home")
	ports := freeBase(t, 2)
	api := fmt.Sprintf("127.0.0.1:%d", ports)
	values := map[string]string{
		"--home":      home,
		"--genesis":   filepath.Join(c.dir, "genesis.json"),
		"--bootstrap": c.p2ps["validator-0"],
		"--api":       api,
		"--p2p-port":  fmt.Sprint(ports + 1),
	}
	replaced := map[string]bool{}
	initArgs := substitute(cmds[0], values, replaced)
	if out, err := exec.Command(binary(t), initArgs...).CombinedOutput(); err != nil {
		t.Fatalf("cocorico %s: %v\n%s", strings.Join(initArgs, " "), err, out)
	}
	nodeArgs := substitute(cmds[1], values, replaced)
	for flag := range values {
		if !replaced[flag] {
			t.Fatalf("the documented commands have no %s: %q", flag, cmds)
		}
	}
	logf, err := os.Create(filepath.Join(c.dir, "volunteer-0.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	vol := exec.Command(binary(t), nodeArgs...)
	vol.Stdout, vol.Stderr = logf, logf
	startChild(t, vol, logf.Name())
	c.procs["volunteer-0"] = vol
	c.names = append(c.names, "volunteer-0") // its log is shown on failure
	c.apis["volunteer-0"] = "http://" + api
	c.waitUp(c.apis["volunteer-0"])

	st, err := c.node("volunteer-0").Status(ctx)
	if err != nil || st.Role != "volunteer" {
		t.Fatalf("volunteer status %+v %v", st, err)
	}
	c.agree(ctx, "validator-0", "volunteer-0")
	if st, _ := c.node("volunteer-0").Status(ctx); st.Peers == 0 {
		t.Fatal("the volunteer reached the validators' height without a peer?")
	}
}

// A flag of `cocorico node` that cannot take effect stops the node at
// start with a usage error, before it binds or opens anything, instead of
// being ignored in silence.
func TestANodeFlagThatCannotTakeEffectIsAUsageError(t *testing.T) {
	dir := t.TempDir()
	if code, out := runCLI("testnet", "--validators", "1", "--volunteers", "1", "--out", dir); code != exitOK {
		t.Fatalf("testnet: %s", out)
	}
	validator, volunteer := filepath.Join(dir, "validator-0"), filepath.Join(dir, "bare-volunteer")
	if code, out := runCLI("init", "--home", volunteer, "--genesis", filepath.Join(dir, "genesis.json")); code != exitOK {
		t.Fatalf("init: %s", out)
	}
	peer := "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWKzWBqJpEXantT4VxiwiRohAwSqrow1oCTdVEh7jy7Ur7"
	cases := []struct {
		why  string
		args []string
	}{
		{"bootstrap peers with no peer network", []string{"--home", volunteer, "--bootstrap", peer, "--listen", ""}},
		{"mDNS with no peer network", []string{"--home", volunteer, "--mdns", "--listen", ""}},
		{"a p2p port with no peer network", []string{"--home", volunteer, "--p2p-port", "26700", "--listen", ""}},
		{"a p2p port beside listen addresses", []string{"--home", volunteer, "--p2p-port", "26700", "--listen", "/ip4/127.0.0.1/tcp/0"}},
		{"a volunteer with no peers at all", []string{"--home", volunteer}},
		{"a sync cap on a lone validator", []string{"--home", validator, "--listen", "", "--max-sync-mbps", "5"}},
		{"a disk cap on a validator", []string{"--home", validator, "--max-disk-gb", "1"}},
	}
	for _, c := range cases {
		args := append([]string{"node", "--api", "127.0.0.1:0", "--log-level", "error"}, c.args...)
		code, out := runCLI(args...)
		t.Logf("%s: %s", c.why, strings.TrimSpace(out))
		if code != exitUsage {
			t.Errorf("%s (cocorico %s): exit %d, want %d\n%s", c.why, strings.Join(args, " "), code, exitUsage, out)
		}
	}
}
