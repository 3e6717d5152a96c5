package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/consensus"
)

func newResultsCmd() *cobra.Command {
	var nodeURL, ballotID string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "results --node URL --ballot ID [--json]",
		Short: "Show a ballot's counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := consensus.ParseHash(ballotID)
			if err != nil {
				return usagef("--ballot: %v", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			n := client.NewNode(nodeURL)
			r, err := n.Results(ctx, id)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			b, _, err := n.Ballot(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s\n%s · status %s · height %d\n\n", b.Def.Question, id, r.Status, r.Height)
			total := r.Casts.Counted
			for _, c := range r.Choices {
				pct := 0.0
				if total > 0 {
					pct = 100 * float64(c.Count) / float64(total)
				}
				bar := strings.Repeat("█", int(pct/4))
				fmt.Fprintf(out, "  %-20s %10d  %5.1f%%  %s\n", c.Label, c.Count, pct, bar)
			}
			fmt.Fprintf(out, "\n  counted %d · replaced %d · pending %d", r.Casts.Counted, r.Casts.Replaced, r.Casts.Pending)
			if r.TokensIssued != nil {
				fmt.Fprintf(out, " · tokens issued %d", *r.TokensIssued)
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&nodeURL, "node", "http://127.0.0.1:8080", "node API URL")
	f.StringVar(&ballotID, "ballot", "", "ballot id (hex)")
	f.BoolVar(&asJSON, "json", false, "print the API's JSON")
	cmd.MarkFlagRequired("ballot")
	return cmd
}
