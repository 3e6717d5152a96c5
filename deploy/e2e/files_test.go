//go:build e2e_docker

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cocorico/node/node"
	"github.com/cocorico/node/store"
	"github.com/cocorico/node/store/storetest"
)

// The file perturbations of issue 11, on one validator at a time: what a
// damaged disk or an operator does to a stopped validator's files, and a
// disk that fills while it runs. Each ends with the validator back in the
// cluster by the recovery docs/OPERATIONS.md §Start-up checks gives; the
// note says what the node said.

type perturbFunc func(name string, fault func() string, settle time.Duration)

type files struct {
	t         *testing.T
	deployDir string
	wait      func(time.Duration)
}

func (f *files) home(name string) string { return filepath.Join(f.deployDir, "net", name) }
func (f *files) ledger(name string) string {
	return filepath.Join(f.home(name), "data", "ledger")
}

// compose runs docker compose, or docker-compose where the plugin is
// missing (as up.sh does).
func (f *files) compose(args ...string) {
	f.t.Helper()
	args = append([]string{"-f", filepath.Join(f.deployDir, "compose.yaml"), "-p", "cocorico"}, args...)
	if exec.Command("docker", "compose", "version").Run() == nil {
		docker(f.t, append([]string{"compose"}, args...)...)
		return
	}
	run(f.t, "docker-compose", args...)
}

// exitedSaying waits for the container to stop by itself and returns the
// last thing it said (its error on stderr).
func (f *files) exitedSaying(name string, within time.Duration) string {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", "cocorico-"+name).Output()
		if strings.HasPrefix(string(out), "false") {
			logs, _ := exec.Command("docker", "logs", "--tail", "1", "cocorico-"+name).CombinedOutput()
			return strings.TrimSpace(string(logs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Errorf("%s did not refuse to start within %s", name, within)
	return ""
}

// said returns the last log line of the container whose message
// contains msg, as "msg key=value …" (the JSON log decoded).
func (f *files) said(name, msg string) string {
	logs, _ := exec.Command("docker", "logs", "cocorico-"+name).CombinedOutput()
	out := ""
	for _, line := range strings.Split(string(logs), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || !strings.Contains(fmt.Sprint(rec["msg"]), msg) {
			continue
		}
		out = fmt.Sprint(rec["msg"])
		for _, k := range []string{"ledger_height", "final_by_state", "fenced_through", "peers_height", "from", "to", "err"} {
			if v, ok := rec[k]; ok {
				out += fmt.Sprintf(" %s=%v", k, v)
			}
		}
	}
	return out
}

// healthy waits until the node's API answers.
func (f *files) healthy(name string, within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if _, err := status(name); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	f.t.Fatalf("%s not serving within %s", name, within)
}

// runOutsideCompose replaces the node's compose container by one made
// with docker run: the same name, network alias, port and home, plus
// extra docker options and node flags.
func (f *files) runOutsideCompose(name string, dockerOpts []string, flags ...string) {
	f.t.Helper()
	exec.Command("docker", "rm", "-f", "cocorico-"+name).Run()
	port := strings.TrimPrefix(apiURL(name), "http://127.0.0.1:")
	args := []string{"run", "-d", "--name", "cocorico-" + name, "--hostname", name, "--network", network, "--network-alias", name,
		"-p", "127.0.0.1:" + port + ":8080", "-v", f.home(name) + ":/data"}
	args = append(append(args, dockerOpts...), "cocorico:local", "node", "--home", "/data", "--log-json")
	docker(f.t, append(args, flags...)...)
}

// backToCompose puts the node's compose container back.
func (f *files) backToCompose(name string) {
	f.t.Helper()
	exec.Command("docker", "rm", "-f", "cocorico-"+name).Run()
	f.compose("up", "-d", name)
}

// flushed moves what a stopped node's ledger log holds into table files
// (a short run may not have made any yet).
func (f *files) flushed(name string) {
	f.t.Helper()
	g, err := node.ReadGenesis(filepath.Join(f.deployDir, "net", "genesis.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	l, err := store.Open(f.ledger(name), g.Hash(), store.Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	defer l.Close()
	if err := l.Flush(); err != nil {
		f.t.Fatal(err)
	}
}

// moveLedgerAway is the operator's recovery from a damaged ledger.
func (f *files) moveLedgerAway(name string) {
	f.t.Helper()
	if err := os.Rename(f.ledger(name), f.ledger(name)+fmt.Sprintf(".damaged-%d", time.Now().Unix())); err != nil {
		f.t.Fatal(err)
	}
}

func (f *files) expect(said, want string) {
	f.t.Helper()
	if !strings.Contains(said, want) {
		f.t.Errorf("the node did not say %q: %s", want, said)
	}
}

var fencedThrough = regexp.MustCompile(`"fenced_through":(\d+)`)

func filePerturbations(t *testing.T, deployDir string, perturb perturbFunc, wait func(time.Duration)) {
	f := &files{t: t, deployDir: deployDir, wait: wait}

	perturb("truncate a stopped validator's WAL", func() string {
		docker(t, "kill", "-s", "KILL", "cocorico-validator-1")
		if _, err := storetest.TruncateNewestLog(f.ledger("validator-1")); err != nil {
			t.Fatal(err)
		}
		docker(t, "start", "cocorico-validator-1")
		f.healthy("validator-1", 90*time.Second)
		said := f.said("validator-1", "the ledger lost final blocks")
		if said == "" {
			said = "(no final block lost: the truncated tail held none)"
		}
		return "(" + said + ")"
	}, 120*time.Second)

	perturb("delete a stopped validator's consensus state", func() string {
		docker(t, "stop", "cocorico-validator-2")
		if err := os.RemoveAll(filepath.Join(f.home("validator-2"), "data", "consensus")); err != nil {
			t.Fatal(err)
		}
		docker(t, "start", "cocorico-validator-2")
		refused := f.exitedSaying("validator-2", 30*time.Second)
		f.expect(refused, "consensus state missing")
		// No backup of the state: the operator accepts the risk once.
		f.runOutsideCompose("validator-2", nil, "--unsafe-reset-consensus-state")
		var fence uint64
		deadline := time.Now().Add(90 * time.Second)
		for fence == 0 && time.Now().Before(deadline) {
			logs, _ := exec.Command("docker", "logs", "cocorico-validator-2").CombinedOutput()
			if m := fencedThrough.FindSubmatch(logs); m != nil {
				fence, _ = strconv.ParseUint(string(m[1]), 10, 64)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if fence == 0 {
			t.Fatal("validator-2 never fenced its signatures")
		}
		// The chain passes the fence; then the compose container again.
		for time.Now().Before(deadline) {
			if st, err := status("validator-0"); err == nil && st.Height > fence+1 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		f.backToCompose("validator-2")
		return fmt.Sprintf("(refused: %q; with --unsafe-reset-consensus-state: fenced through %d)", short80(refused), fence)
	}, 120*time.Second)

	perturb("delete a stopped validator's MANIFEST", func() string {
		docker(t, "stop", "cocorico-validator-3")
		if _, err := storetest.RemoveManifest(f.ledger("validator-3")); err != nil {
			t.Fatal(err)
		}
		docker(t, "start", "cocorico-validator-3")
		refused := f.exitedSaying("validator-3", 30*time.Second)
		f.expect(refused, "no MANIFEST")
		f.moveLedgerAway("validator-3")
		docker(t, "start", "cocorico-validator-3")
		f.healthy("validator-3", 90*time.Second)
		return fmt.Sprintf("(refused: %q; ledger moved away: %s)", short80(refused), f.said("validator-3", "the ledger lost final blocks"))
	}, 120*time.Second)

	perturb("corrupt a stopped validator's .sst", func() string {
		docker(t, "stop", "cocorico-validator-1")
		f.flushed("validator-1")
		ssts, err := storetest.CorruptTables(f.ledger("validator-1"))
		if err != nil {
			t.Errorf("no table to corrupt: %v", err)
			docker(t, "start", "cocorico-validator-1")
			return "(skipped: no table file)"
		}
		docker(t, "start", "cocorico-validator-1")
		refused := f.exitedSaying("validator-1", 30*time.Second)
		f.expect(refused, ".sst")
		f.moveLedgerAway("validator-1")
		docker(t, "start", "cocorico-validator-1")
		f.healthy("validator-1", 90*time.Second)
		return fmt.Sprintf("(%d tables corrupted; refused: %q; ledger moved away: %s)", len(ssts), short80(refused),
			f.said("validator-1", "the ledger lost final blocks"))
	}, 120*time.Second)

	perturb("fill a validator's disk while it runs", func() string {
		// The ledger on a tmpfs of 256 KiB, less than the ledger's 64 MiB
		// reserve (store/reserve.go): the validator refuses to start,
		// saying how much is free. (A disk that fills under a running node
		// is store's TestAFullDiskReleasesTheReserve…: Pebble writes its
		// log into 4.4 MB it preallocates, so here it would take minutes
		// of casts to reach.)
		docker(t, "stop", "cocorico-validator-2")
		const size = 256 << 10
		f.runOutsideCompose("validator-2", []string{"--mount", fmt.Sprintf("type=tmpfs,dst=/data/data/ledger,tmpfs-size=%d", size)})
		said := f.exitedSaying("validator-2", 90*time.Second)
		f.expect(said, "no space left on device")
		// The operator gives it its disk back: the compose container, its
		// ledger on the home's volume, behind the state: refilled from peers.
		f.backToCompose("validator-2")
		f.healthy("validator-2", 90*time.Second)
		return fmt.Sprintf("(ledger disk of %d KiB: %q; disk back: %s)", size>>10, short80(said),
			f.said("validator-2", "the ledger lost final blocks"))
	}, 120*time.Second)
}

func short80(s string) string {
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 240 {
		return s[:240] + "…"
	}
	return s
}
