package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node"
)

func newDevnetCmd() *cobra.Command {
	var (
		validators, apiPort, voters int
		maxCasts                    int
		revoteInterval              time.Duration
		dir                         string
		pprof                       bool
		snapshotInterval            int64
		chunkBits                   uint8
		cacheMiB, memLimitMiB       int64
		memTableMiB                 uint64
		gcPercent                   int
		lf                          logFlags
	)
	cmd := &cobra.Command{
		Use:   "devnet [--validators 4] [--dir DIR] [--api-port 8080]",
		Short: "Run the whole system on this machine: validators, a registrar, a demo ballot",
		Long: `Run a whole Cocorico network in one process: N validators (each its own
Pebble ledger and, with more than one, its own libp2p host on loopback), a
registrar with a generated demo voter roll, and a demo ballot
(for / against / abstention). It prints the URLs and the commands to vote,
writes DIR/devnet.json, and runs until Ctrl-C. Run it again with the same
--dir to resume the same chain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(lf.level, lf.json)
			if err != nil {
				return err
			}
			if memTableMiB < 1 || memTableMiB > 1024 {
				return fmt.Errorf("--ledger-memtable %d: want 1 to 1024 MiB", memTableMiB)
			}
			if err := setGCPercent(gcPercent, os.Getenv("GOGC")); err != nil {
				return err
			}
			setMemoryLimit(memLimitMiB, os.Getenv("GOMEMLIMIT"))
			temp := dir == ""
			if temp {
				if dir, err = os.MkdirTemp("", "cocorico-devnet-"); err != nil {
					return err
				}
			}
			app := consensus.DefaultAppParams()
			if cmd.Flags().Changed("max-casts-per-voter") {
				app.MaxCastsPerVoter = maxCasts
			}
			if cmd.Flags().Changed("revote-interval") {
				app.RevoteIntervalMs = revoteInterval.Milliseconds()
			}
			started := false
			// A devnet in a folder of its own making that never ran holds
			// nothing: it goes; one that ran is kept, and named.
			defer func() {
				switch {
				case temp && !started:
					os.RemoveAll(dir)
				case temp:
					fmt.Fprintf(cmd.ErrOrStderr(), "\nThe devnet's folder is kept: %s (%s).\nResume it: %s devnet --dir %s\nRemove it:  rm -rf %s\n",
						dir, folderSize(dir), self(), dir, dir)
				}
			}()
			d, err := node.NewDevnet(node.DevnetConfig{Dir: dir, Validators: validators, APIPort: apiPort, Voters: voters,
				Logger: logger, Version: version, Pprof: pprof, App: app, SnapshotInterval: snapshotInterval,
				SnapshotChunkBits: chunkBits, CacheBytes: cacheMiB << 20, MemTableBytes: memTableMiB << 20})
			if err != nil {
				return portHint(err)
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			out := cmd.OutOrStdout()
			err = d.Run(ctx, func(info node.DevnetInfo) {
				started = true
				printDevnetBanner(out, info, dir)
			})
			return portHint(err)
		},
	}
	f := cmd.Flags()
	f.IntVar(&validators, "validators", 4, "number of validators")
	f.StringVar(&dir, "dir", "", "devnet folder (default: a fresh temporary folder)")
	f.IntVar(&apiPort, "api-port", 8080, "API port of the first validator (validator i: +i; registrar: +50)")
	f.IntVar(&voters, "voters", 1000, "size of the demo voter roll")
	f.Uint8Var(&chunkBits, "snapshot-chunk-bits", 12, "snapshots are served in chunks of 2^N records (4 to 16)")
	f.Int64Var(&snapshotInterval, "snapshot-interval", 10, "every node takes a state snapshot after every block whose height is a multiple of this (volunteers join from them); -1: none")
	f.IntVar(&maxCasts, "max-casts-per-voter", consensus.DefaultAppParams().MaxCastsPerVoter, "a new devnet's genesis: casts allowed per voter key and ballot")
	f.DurationVar(&revoteInterval, "revote-interval", time.Duration(consensus.DefaultAppParams().RevoteIntervalMs)*time.Millisecond,
		"a new devnet's genesis: least time between two casts of a voter key (0 for load tests that re-vote at once)")
	f.Int64Var(&cacheMiB, "ledger-cache", node.DevnetCacheBytes>>20, "MiB of Pebble block cache the validators' ledgers share")
	f.Uint64Var(&memTableMiB, "ledger-memtable", node.DevnetMemTableBytes>>20, "MiB of writes each validator's ledger holds in memory before writing them to a table (Pebble's memtable; one more is kept for reuse)")
	f.Int64Var(&memLimitMiB, "memory-limit", 1024, "soft limit of the Go heap of the whole devnet in MiB (Go's GOMEMLIMIT, which wins when set); 0: none")
	f.IntVar(&gcPercent, "gc-percent", devnetGCPercent, "Go's garbage collection target for the whole devnet: the heap may grow this many percent above what the last collection left (Go's GOGC, which wins when set; Go's default is 100)")
	f.BoolVar(&pprof, "pprof", false, "serve Go's profiles under /debug/pprof/ on every node's API")
	lf.add(cmd)
	return cmd
}

// setMemoryLimit sets Go's soft memory limit to mib MiB, unless the
// GOMEMLIMIT environment variable (env) already set one, or mib is 0. The
// devnet's four nodes keep ~350 MB of live heap at 200,000 casts, and with
// Go's default (the heap grows to twice what the last collection left)
// the process held ~880 MB of Go memory. A limit near the live heap makes
// Go collect back to back (up to half the CPU): at 100,000 casts 450 MiB
// (the default before) cost ~20 % of the final casts/s and 300 MiB a
// third, and at 1,000,000 casts, with 450 MiB, a block took 3.3 s instead
// of 1.4 s. The default, 1 GiB, is a bound for a developer's machine that
// the live heap stays well under (docs/OPERATIONS.md §Ledger).
func setMemoryLimit(mib int64, env string) {
	if mib <= 0 || env != "" {
		return
	}
	debug.SetMemoryLimit(mib << 20)
}

// devnetGCPercent is the devnet's default GC target. With Go's default
// (100) the heap grows to twice what the last collection left: at 100,000
// casts the four nodes' Go memory reached ~530 MB for ~170 MB live, and
// the process 650-730 MB resident. At 50 it stayed near 370 MB and the
// process under 600 MB (576-601 MB in four runs) at the same final
// casts/s, within this machine's noise (4,057-4,414/s against
// 3,893-4,548/s, alternated runs): collecting twice as often costs a few
// percent of a core, and the devnet's CPU is mostly signature checks.
const devnetGCPercent = 50

// setGCPercent sets Go's GC target to pct, unless the GOGC environment
// variable (env) already set one; pct must be 10 to 1,000.
func setGCPercent(pct int, env string) error {
	if pct < 10 || pct > 1000 {
		return fmt.Errorf("--gc-percent %d: want 10 to 1000 (100 is Go's default)", pct)
	}
	if env == "" {
		debug.SetGCPercent(pct)
	}
	return nil
}

// printDevnetBanner says where a devnet's parts are and how to vote: in a
// browser as the roll's second voter, from the command line as its first
// (a voter's right goes to one place, a browser or the command line's
// wallet: the same voter in both is refused the second time).
func printDevnetBanner(out io.Writer, info node.DevnetInfo, dir string) {
	fmt.Fprintf(out, "\nCocorico devnet %q is running (Ctrl-C to stop)\n\n", info.ChainID)
	for _, n := range info.Nodes {
		fmt.Fprintf(out, "  %-12s API %s\n", n.Name, n.API)
	}
	page := fmt.Sprintf("%s/ballots/%s", info.Nodes[0].API, info.Ballot)
	fmt.Fprintf(out, "  %-12s %s (admin token in %s)\n", "registrar", info.Registrar, info.RegistrarTokenFile)
	fmt.Fprintf(out, "  %-12s %s\n", "ballot", info.Ballot)
	fmt.Fprintf(out, "  %-12s %s\n", "ballot page", page)
	fmt.Fprintf(out, "  %-12s %s\n", "voter roll", info.Voters)
	fmt.Fprintf(out, "  %-12s %s\n\n", "all of it", filepath.Join(dir, "devnet.json"))
	roll := headOfRoll(info.Voters, 2)
	fmt.Fprintf(out, "Vote in a browser: open the ballot page, press \"I vote\" and give the roll's second voter:\n  voter id %s, code %s\n",
		roll[1].VoterID, roll[1].Code)
	fmt.Fprintf(out, "Vote from the command line as the roll's first voter (any line of the roll: voter id, code;\none voter votes from one place, a browser or this command line):\n  %s vote --node %s --registrar %s --ballot %s --voter %s --code %s --choice for\n",
		self(), info.Nodes[0].API, info.Registrar, info.Ballot, roll[0].VoterID, roll[0].Code)
	fmt.Fprintf(out, "Results:\n  %s results --node %s --ballot %s\n\n", self(), info.Nodes[len(info.Nodes)-1].API, info.Ballot)
}

// headOfRoll returns the first n voters of a roll file, VOTER and CODE
// standing for those it cannot read.
func headOfRoll(path string, n int) []registrar.RollEntry {
	out := make([]registrar.RollEntry, n)
	for i := range out {
		out[i] = registrar.RollEntry{VoterID: "VOTER", Code: "CODE"}
	}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	var head strings.Builder
	sc := bufio.NewScanner(f)
	for i := 0; i < n+1 && sc.Scan(); i++ { // and the header line
		head.WriteString(sc.Text() + "\n")
	}
	roll, err := registrar.ParseRoll(strings.NewReader(head.String()))
	if err != nil {
		return out
	}
	copy(out, roll[:min(n, len(roll))])
	return out
}

// portHint adds what to do to an error of a port already taken.
func portHint(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w\n(another program listens on that port: stop it, or give the devnet other ports with --api-port N, or --api-port 0 for free ones)", err)
	}
	return err
}

// folderSize is the disk the files under dir take, for a person ("612
// MB").
func folderSize(dir string) string { return fmt.Sprintf("%d MB", node.DiskBytes(dir)/1_000_000) }
