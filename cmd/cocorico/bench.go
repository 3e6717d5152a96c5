package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
)

// benchFlags are `cocorico bench`'s flags.
type benchFlags struct {
	nodes                            []string
	registrarURL, ballotID, rollPath string
	devnetPath                       string
	casts, voters, concurrency       int
	batch                            int
	rate                             float64
	asJSON                           bool
	timeout                          time.Duration
	cpuProfile, nodeProfile          string
	nodeProfileSecs                  int
	withCeiling                      bool
	ceilingFor                       time.Duration
	tokens                           string
	tokensOnly                       bool
}

func newBenchCmd() *cobra.Command {
	var bf benchFlags
	cmd := &cobra.Command{
		Use:   "bench [--devnet DIR/devnet.json | --node URL,... --registrar URL --ballot ID --roll FILE] [--casts N] [--voters N]",
		Short: "Load generator: many voters against one or more nodes; casts/s and latency",
		Long: `Measure sustained final casts per second. Before the timed window, the
bench obtains a token for each voter from the registrar and signs every
cast; then concurrent clients send them round-robin to the nodes, and the
bench follows the first node's blocks to time each cast from sending to
finality. With more casts than voters, the extra casts are re-votes.

At a million voters the tokens take far longer than the casts. To run the
timed window again and again: obtain them once into a file on a fresh
devnet (--tokens-file FILE --prepare-only), stop the devnet and keep a copy of
its folder; then, for each run, start a devnet on a new copy of that folder
and run the bench with the same --tokens-file FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return bench(cmd, &bf) },
	}
	f := cmd.Flags()
	f.StringVar(&bf.devnetPath, "devnet", "", "read nodes, registrar, ballot and roll from a devnet.json")
	f.StringSliceVar(&bf.nodes, "node", nil, "node API URLs (comma-separated or repeated)")
	f.StringVar(&bf.registrarURL, "registrar", "", "registrar URL")
	f.StringVar(&bf.ballotID, "ballot", "", "ballot id")
	f.StringVar(&bf.rollPath, "roll", "", "voter roll CSV with the codes")
	f.IntVar(&bf.casts, "casts", 10000, "casts to send")
	f.IntVar(&bf.voters, "voters", 0, "voters to take tokens for (default: min(roll, casts))")
	f.IntVar(&bf.concurrency, "concurrency", 64, "concurrent clients")
	f.Float64Var(&bf.rate, "rate", 0, "cap on casts/s sent (0: as fast as accepted)")
	f.IntVar(&bf.batch, "batch", 1, "casts per request (more than 1 uses POST /v1/casts/batch)")
	f.BoolVar(&bf.asJSON, "json", false, "print the report as JSON")
	f.DurationVar(&bf.timeout, "timeout", 2*time.Minute, "how long to wait for the last casts to be final")
	f.StringVar(&bf.cpuProfile, "cpuprofile", "", "write the bench's own CPU profile of the timed window to this file")
	f.StringVar(&bf.nodeProfile, "node-profile", "", "fetch the first node's CPU profile (needs --pprof on it) during the window into this file")
	f.IntVar(&bf.nodeProfileSecs, "node-profile-seconds", 5, "length of the node profile")
	f.BoolVar(&bf.withCeiling, "ceiling", false, "first measure the crypto ceiling C on this machine (alone: print it and stop) and print the final rate as a fraction of it")
	f.DurationVar(&bf.ceilingFor, "ceiling-time", 3*time.Second, "how long to measure C")
	f.StringVar(&bf.tokens, "tokens-file", "", "keep the voters' tokens in this file: read from it if it exists (made by an earlier run on a copy of the same devnet, before its casts), else written to it")
	f.BoolVar(&bf.tokensOnly, "prepare-only", false, "obtain the tokens, write them to --tokens-file and stop: send nothing")
	return cmd
}

// bench measures C if asked, prepares and runs the load, and prints the
// report.
func bench(cmd *cobra.Command, bf *benchFlags) error {
	if bf.tokensOnly && bf.tokens == "" {
		return usageError{errors.New("--prepare-only needs --tokens-file FILE to write the tokens to")}
	}
	var c ceiling
	if bf.withCeiling {
		var err error
		if c, err = measureCeiling(bf.ceilingFor); err != nil {
			return err
		}
		c.print(cmd.OutOrStdout())
		if bf.devnetPath == "" && len(bf.nodes) == 0 {
			return nil
		}
	}
	cfg, err := benchConfig(bf)
	if err != nil {
		return err
	}
	cfg.Tokens, cfg.TokensOnly = bf.tokens, bf.tokensOnly
	cfg.Progress = newPhaseBars(cmd.ErrOrStderr())
	hooks := []func(bool){profileWindow(bf.cpuProfile, bf.nodeProfile, cfg.Nodes[0].URL(), bf.nodeProfileSecs)}
	var cpu *cpuWindow
	if bf.withCeiling {
		urls := make([]string, len(cfg.Nodes))
		for i, n := range cfg.Nodes {
			urls[i] = n.URL()
		}
		cpu = newCPUWindow(urls)
		hooks = append(hooks, cpu.hook)
	}
	cfg.OnWindow = windowHooks(hooks)
	ctx, cancel := signalContext(cmd.Context())
	defer cancel()
	rep, err := client.Bench(ctx, cfg)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if bf.tokensOnly {
		fmt.Fprintf(out, "%d voters' tokens in %s (%s)\n", rep.Voters, bf.tokens, rep.Prepare.Round(time.Millisecond))
		return nil
	}
	if bf.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printBenchReport(out, rep)
	if bf.withCeiling {
		c.fraction(out, "final casts/s", rep.FinalRate)
		c.cpuPerCast(out, cpu, len(cfg.Nodes), rep.Final)
	}
	for _, id := range rep.Missing {
		st, err := cfg.Nodes[0].CastStatus(ctx, id)
		if err == nil {
			fmt.Fprintf(out, "not final: %s (%s on %s)\n", id, st.Status, cfg.Nodes[0].URL())
		}
	}
	if rep.Final+rep.Superseded < rep.Accepted {
		return fmt.Errorf("%d accepted casts were not final before the timeout", rep.Accepted-rep.Final-rep.Superseded)
	}
	return nil
}

// benchConfig reads the nodes, registrar, ballot and roll from the flags
// (or a devnet.json).
func benchConfig(bf *benchFlags) (client.BenchConfig, error) {
	nodes, registrarURL, ballotID, rollPath := bf.nodes, bf.registrarURL, bf.ballotID, bf.rollPath
	if bf.devnetPath != "" {
		data, err := os.ReadFile(bf.devnetPath)
		if err != nil {
			return client.BenchConfig{}, err
		}
		var info struct {
			Nodes     []struct{ API string } `json:"nodes"`
			Registrar string                 `json:"registrar"`
			Ballot    string                 `json:"ballot"`
			Voters    string                 `json:"voters"`
		}
		if err := json.Unmarshal(data, &info); err != nil {
			return client.BenchConfig{}, fmt.Errorf("%s: %w", bf.devnetPath, err)
		}
		if len(nodes) == 0 {
			for _, n := range info.Nodes {
				nodes = append(nodes, n.API)
			}
		}
		registrarURL, ballotID, rollPath = orDefault(registrarURL, info.Registrar), orDefault(ballotID, info.Ballot), orDefault(rollPath, info.Voters)
	}
	nodes = splitList(nodes)
	if len(nodes) == 0 || registrarURL == "" || ballotID == "" || rollPath == "" {
		return client.BenchConfig{}, usagef("give --devnet FILE, or --node, --registrar, --ballot and --roll")
	}
	id, err := consensus.ParseHash(ballotID)
	if err != nil {
		return client.BenchConfig{}, usagef("--ballot: %v", err)
	}
	f, err := os.Open(rollPath)
	if err != nil {
		return client.BenchConfig{}, err
	}
	roll, err := registrar.ParseRoll(f)
	f.Close()
	if err != nil {
		return client.BenchConfig{}, err
	}
	cfg := client.BenchConfig{Registrar: client.NewRegistrar(registrarURL, ""), Ballot: id, Roll: roll, Voters: bf.voters, Casts: bf.casts,
		Concurrency: bf.concurrency, Rate: bf.rate, Batch: bf.batch, Rand: rand.Reader, Timeout: bf.timeout}
	for _, u := range nodes {
		cfg.Nodes = append(cfg.Nodes, client.NewNode(u))
	}
	return cfg, nil
}

// printBenchReport writes the report for people.
func printBenchReport(out io.Writer, rep *client.BenchReport) {
	fmt.Fprintf(out, "\nnodes %d · voters %d (%d skipped: they had a token already) · prepared in %s (tokens and signatures, untimed)\n",
		rep.Nodes, rep.Voters, rep.Skipped, rep.Prepare.Round(time.Millisecond))
	fmt.Fprintf(out, "sent %d (%.0f/s) · accepted %d · final %d in %d blocks · %d re-sent after a node answered 503 (overloaded)\n",
		rep.Sent, rep.SendRate, rep.Accepted, rep.Final, rep.Blocks, rep.Retried)
	if rep.Superseded > 0 {
		fmt.Fprintf(out, "superseded %d: accepted re-votes never final because a later cast of the same voter was final first (a chain without a re-vote interval)\n", rep.Superseded)
	}
	if len(rep.Rejected) > 0 {
		var parts []string
		for code, n := range rep.Rejected {
			parts = append(parts, fmt.Sprintf("%s %d", code, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(out, "rejected: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(out, "sustained: %.0f final casts/s over %s\n", rep.FinalRate, rep.Window.Round(time.Millisecond))
	l := rep.LatencyMs
	fmt.Fprintf(out, "cast to final: p50 %.0f ms · p90 %.0f ms · p99 %.0f ms · max %.0f ms\n", l.P50, l.P90, l.P99, l.Max)
}

func orDefault(v, d string) string {
	if v != "" {
		return v
	}
	return d
}

// newPhaseBars draws one progress bar per phase on w.
func newPhaseBars(w interface{ Write([]byte) (int, error) }) func(string, int, int) {
	var bar *progressbar.ProgressBar
	phase := ""
	return func(p string, done, total int) {
		if p != phase || bar == nil {
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(w)
			}
			phase = p
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(fmt.Sprintf("%-7s", p)),
				// No rate: the bar's own is of its last update (millions a
				// second when a phase is done at once); the report gives
				// the sustained one.
				progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetWidth(30))
		}
		bar.ChangeMax(total)
		bar.Set(done)
	}
}

// windowHooks calls the hooks that are set when the window opens, and in
// the reverse order when it closes (the CPU sample before the wait for a
// node's profile).
func windowHooks(hooks []func(bool)) func(bool) {
	hooks = slices.DeleteFunc(hooks, func(h func(bool)) bool { return h == nil })
	if len(hooks) == 0 {
		return nil
	}
	return func(open bool) {
		if open {
			for _, h := range hooks {
				h(true)
			}
			return
		}
		for _, h := range slices.Backward(hooks) {
			h(false)
		}
	}
}

// profileWindow returns the bench's OnWindow hook: a CPU profile of the
// bench itself and one fetched from the node, over the timed window.
func profileWindow(own, nodeFile, nodeURL string, secs int) func(bool) {
	if own == "" && nodeFile == "" {
		return nil
	}
	var f *os.File
	var fetching sync.WaitGroup
	return func(open bool) {
		if !open {
			if f != nil {
				pprof.StopCPUProfile()
				f.Close()
			}
			fetching.Wait()
			return
		}
		if own != "" {
			var err error
			if f, err = os.Create(own); err == nil {
				pprof.StartCPUProfile(f)
			}
		}
		if nodeFile != "" {
			fetching.Add(1)
			go func() {
				defer fetching.Done()
				resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimRight(nodeURL, "/"), secs))
				if err != nil {
					return
				}
				defer resp.Body.Close()
				out, err := os.Create(nodeFile)
				if err != nil {
					return
				}
				defer out.Close()
				io.Copy(out, resp.Body)
			}()
		}
	}
}
