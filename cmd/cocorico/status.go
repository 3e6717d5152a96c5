package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/client"
)

func newStatusCmd() *cobra.Command {
	var nodeURL string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "status [--node URL] [--quiet]",
		Short: "A short summary of a node: role, height, how far behind, peers, ballots",
		Long: `Print a node's role, height, how many blocks it knows it lacks, its peers
and the chain's ballots. With --quiet, print nothing: the exit status says
whether the node answers (a container health check).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			n := client.NewNode(nodeURL)
			st, err := n.Status(ctx)
			if err != nil || quiet {
				return err
			}
			out := cmd.OutOrStdout()
			age := time.Since(st.LastBlockTime).Round(time.Second)
			fmt.Fprintf(out, "%s of chain %s · version %s\n", st.Role, st.ChainID, st.Version)
			fmt.Fprintf(out, "height   %d (last block %s ago)\n", st.Height, age)
			if st.Behind > 0 {
				fmt.Fprintf(out, "behind   %d blocks: syncing\n", st.Behind)
			} else {
				fmt.Fprintf(out, "behind   0: in step with its peers\n")
			}
			fmt.Fprintf(out, "peers    %d · validators %d · mempool %d\n", st.Peers, len(st.Validators), st.Mempool)
			if st.LedgerBase > 1 {
				fmt.Fprintf(out, "ledger   blocks %d…%d (joined from a snapshot; older blocks being back-filled)\n", st.LedgerBase, st.Height)
			} else {
				fmt.Fprintf(out, "ledger   every block from 1\n")
			}
			if st.VerifiedFrom > 1 {
				fmt.Fprintf(out, "verified every cast from block %d on itself (older: the validators' signatures; re-verified once back-filled)\n", st.VerifiedFrom)
			} else {
				fmt.Fprintf(out, "verified every cast of the chain itself\n")
			}
			fmt.Fprintf(out, "checked  re-verified by %s over the last %d blocks (nodes, not people)\n",
				independentNodes(st.Attestations), api.RecentAttestationHeights)
			if st.Alarms > 0 {
				fmt.Fprintf(out, "ALARMS   %d: a final block failed a node's verification (GET /v1/alarms)\n", st.Alarms)
			} else {
				fmt.Fprintf(out, "alarms   none\n")
			}
			bs, err := n.Ballots(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "ballots  %d\n", len(bs))
			for _, b := range bs {
				fmt.Fprintf(out, "  %s  %-8s  %s\n", b.BallotID.Short(), b.Status, b.Question)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", "http://127.0.0.1:8080", "node API URL")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "print nothing; exit 0 only if the node answers")
	return cmd
}
