package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node"
	"github.com/cocorico/node/node/app"
	"github.com/cocorico/node/store"
)

func newRecountCmd() *cobra.Command {
	var home, genesis, ballotID string
	var withCeiling, onDisk bool
	var cpuProfile string
	var ceilingFor time.Duration
	cmd := &cobra.Command{
		Use:   "recount --home DIR --ballot ID",
		Short: "Recount a ballot from a local ledger, re-verifying every signature",
		Long: `Replay the node's ledger from block 1: every commit against the genesis
validators, every parent hash and Merkle root, every token and voter
signature, every header's results hash; then compare the recounted counts
with the committed ones. The node must be stopped (or run this on a copy
of its home): the ledger is opened exclusively.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := consensus.ParseHash(ballotID)
			if err != nil {
				return usagef("--ballot: %v", err)
			}
			h := node.Home(home)
			if genesis == "" {
				genesis = h.GenesisPath()
			}
			g, err := node.ReadGenesis(genesis)
			if err != nil {
				return err
			}
			l, err := store.Open(h.LedgerDir(), g.Hash(), store.Options{})
			if err != nil {
				return fmt.Errorf("%w (is the node still running? stop it, or recount a copy of its home)", err)
			}
			defer l.Close()
			var c ceiling
			if withCeiling {
				if c, err = measureCeiling(ceilingFor); err != nil {
					return err
				}
				c.print(cmd.OutOrStdout())
			}
			bar := progressbar.NewOptions64(int64(l.Height()), progressbar.OptionSetWriter(cmd.ErrOrStderr()),
				progressbar.OptionSetDescription("blocks"), progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond))
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			if cpuProfile != "" {
				pf, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer pf.Close()
				if err := pprof.StartCPUProfile(pf); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			cpu0 := processCPU()
			idle0, total0 := idleClock()
			scratch := ""
			if onDisk {
				scratch = h.RecountDir()
			}
			rep, err := app.Recount(ctx, l, g, id, scratch, func(done, _ uint64) { bar.Set64(int64(done)) })
			cpu, busy := processCPU()-cpu0, busySince(idle0, total0)
			bar.Finish()
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s\n%d blocks, %d transactions, %d casts of this ballot re-verified in %s (%.0f casts/s)\n",
				rep.Question, rep.Blocks, rep.Txs, rep.Casts, rep.Took.Round(time.Millisecond), float64(rep.Txs)/rep.Took.Seconds())
			fmt.Fprintf(out, "%d header results hashes matched the recount\n", rep.AppHashes)
			if withCeiling {
				c.fraction(out, "recount (transactions)", float64(rep.Txs)/rep.Took.Seconds())
				c.efficiency(out, rep.Txs, cpu, busy)
			}
			fmt.Fprintf(out, "  %-20s %12s %12s\n", "choice", "recounted", "committed")
			if len(rep.Counts) == 0 {
				fmt.Fprintln(out, "  sealed: not counted yet (the keykeepers share after closing)")
			}
			for i, c := range rep.Choices {
				if i < len(rep.Counts) && i < len(rep.Stored) {
					fmt.Fprintf(out, "  %-20s %12d %12d\n", c, rep.Counts[i], rep.Stored[i])
				}
			}
			if !rep.Agree {
				return errors.New("the recount DISAGREES with the committed results")
			}
			fmt.Fprintln(out, "the recount agrees with the committed results")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&home, "home", "", "node home folder")
	f.StringVar(&genesis, "genesis", "", "genesis file (default HOME/genesis.json)")
	f.StringVar(&ballotID, "ballot", "", "ballot id")
	f.BoolVar(&withCeiling, "ceiling", false, "first measure the crypto ceiling C on this machine and print the recount's rate as a fraction of it")
	f.DurationVar(&ceilingFor, "ceiling-time", 3*time.Second, "how long to measure C")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write the recount's CPU profile to this file")
	f.BoolVar(&onDisk, "on-disk", false, "keep the recounted state in a scratch ledger (HOME/data/recount, removed at the end) instead of memory, which needs ~1 KB a voter record: slower, for a chain whose state does not fit in memory")
	cmd.MarkFlagRequired("home")
	cmd.MarkFlagRequired("ballot")
	return cmd
}
