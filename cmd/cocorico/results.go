package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/consensus"
)

func newResultsCmd() *cobra.Command {
	var nodeURL, ballotID, format string
	var asJSON, noWait bool
	cmd := &cobra.Command{
		Use:   "results --node URL --ballot ID [--format text|csv|json]",
		Short: "Show a ballot's counts, checked against the validators' signatures",
		Long: `Show a ballot's counts. The counts are checked against the chain: their
proof into the app hash, and the commit of the next block by a quorum of
the genesis validators: the node serves the figures of its newest block,
which the next block signs, so this waits for that block (at most the
chain's heartbeat, 10 s by default; --no-wait does not). Then each registrar the
ballot names is asked how many tokens it issued (this command asks them:
a node never does).

--format csv writes one line per choice (ballot_id,height,status,choice,count);
--format json writes the node's answer as it is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := consensus.ParseHash(ballotID)
			if err != nil {
				return usagef("--ballot: %v", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			n := client.NewNode(nodeURL)
			if asJSON {
				format = "json"
			}
			switch format {
			case "text", "csv", "json":
			default:
				return usagef("--format %q: want text, csv or json", format)
			}
			if format == "json" {
				r, err := n.Results(ctx, id)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			g, err := n.Genesis(ctx)
			if err != nil {
				return err
			}
			// The figures of the node's newest block are signed with the
			// next one, made within the chain's heartbeat even without a
			// cast: wait for it (a little longer, for the round itself).
			wait := time.Duration(g.Params.HeartbeatMs+g.Params.TimeoutProposeMs+g.Params.TimeoutVoteMs)*time.Millisecond + time.Second
			if noWait {
				wait = 0
			}
			cr, err := n.VerifiedResults(ctx, g, id, wait, func(next uint64) {
				fmt.Fprintf(cmd.ErrOrStderr(), "waiting for block %d, which carries the validators' signatures of these figures…\n", next)
			})
			if err != nil {
				return err
			}
			if format == "csv" {
				return cr.View.WriteCSV(cmd.OutOrStdout())
			}
			printResults(cmd.OutOrStdout(), cr, g)
			// Issuance counts come from the registrars themselves: this
			// command (a client) asks the URLs the ballot names; a node
			// never fetches a URL taken from the chain.
			for _, reg := range cr.Ballot.Def.Registrars {
				if reg.URL == "" {
					continue
				}
				if issued, err := client.NewRegistrar(reg.URL, "").Issued(ctx, id); err == nil {
					noun := "tokens"
					if issued == 1 {
						noun = "token"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "  %s says it issued %d %s\n", reg.Name, issued, noun)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&nodeURL, "node", "http://127.0.0.1:8080", "node API URL")
	f.StringVar(&ballotID, "ballot", "", "ballot id (hex)")
	f.StringVar(&format, "format", "text", "text, csv or json")
	f.BoolVar(&asJSON, "json", false, "the same as --format json")
	f.BoolVar(&noWait, "no-wait", false, "do not wait for the block that signs the newest figures (they are then checked against the node's app hash only)")
	cmd.MarkFlagRequired("ballot")
	return cmd
}

func printResults(out io.Writer, cr *client.CheckedResults, g *consensus.Genesis) {
	r := cr.View
	fmt.Fprintf(out, "%s\n%s · status %s · height %d\n\n", cr.Ballot.Def.Question, r.BallotID, r.Status, r.Height)
	total := r.Casts.Counted
	for _, c := range r.Choices {
		pct := 0.0
		if total > 0 {
			pct = 100 * float64(c.Count) / float64(total)
		}
		bar := strings.Repeat("█", int(pct/4))
		fmt.Fprintf(out, "  %-20s %10d  %5.1f%%  %s\n", c.Label, c.Count, pct, bar)
	}
	if r.Sealed {
		fmt.Fprintf(out, "  sealed until the keykeepers count after closing: no count before (turnout %d)\n", r.Casts.Counted)
	} else if r.Results.Invalid > 0 {
		fmt.Fprintf(out, "  %-20s %10d  (sealed choices that decrypt to no choice)\n", "invalid", r.Results.Invalid)
	}
	fmt.Fprintf(out, "\n  counted %d · replaced %d · pending %d\n", r.Casts.Counted, r.Casts.Replaced, r.Casts.Pending)
	if cr.Signed {
		fmt.Fprintf(out, "  ✓ checked: signed by %d of %d validators (block %d commits to them)\n", cr.Signers, len(g.Validators), r.Height+1)
	} else {
		fmt.Fprintf(out, "  · consistent with the node's app hash; signed once block %d is final\n", r.Height+1)
	}
	fmt.Fprintf(out, "  re-verified by %s, as far as this node saw (nodes, not people: one person can run many)\n", independentNodes(r.Attestations))
}

// independentNodes is "1 independent node", "3 independent nodes".
func independentNodes(n int) string {
	if n == 1 {
		return "1 independent node"
	}
	return fmt.Sprintf("%d independent nodes", n)
}
