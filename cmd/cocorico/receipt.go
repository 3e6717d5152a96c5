package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

func newReceiptCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "receipt", Short: "Check a voter's receipt"}
	var nodeURL, genesisPath, walletPath string
	verify := &cobra.Command{
		Use:   "verify FILE [--node URL]",
		Short: "Check a receipt offline against the genesis, and against a node with --node",
		Long: `Check a receipt. Offline, with the chain's genesis alone: the ballot
definition, the cast's signature and token, its place in the block (Merkle
proof) and the block's commit by a quorum of the genesis validators. With
--node, also that the node has this very block at this height and whether
the cast still counts (a later re-vote replaces it).

The genesis is --genesis FILE, or the one of the receipt's chain in your
wallet (found by the cast, else by the chain's name).
Exit status 0 only when every check holds.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			r, err := ballot.DecodeReceipt(data)
			if err != nil {
				return err
			}
			g, err := receiptGenesis(genesisPath, walletPath, r)
			if err != nil && nodeURL == "" {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var node *client.Node
			if nodeURL != "" {
				node = client.NewNode(nodeURL)
				ng, nerr := node.Genesis(ctx)
				if nerr != nil {
					return fmt.Errorf("node genesis: %w", nerr)
				}
				if g == nil {
					g = ng // no genesis of our own: the node's (printed as such)
					fmt.Fprintf(cmd.OutOrStdout(), "! no local genesis for chain %q: using the node's (%s)\n", r.ChainID, ng.Hash())
				} else if ng.Hash() != g.Hash() {
					return fmt.Errorf("the node runs genesis %s, the receipt's chain is %s", ng.Hash(), g.Hash())
				}
			}
			out := cmd.OutOrStdout()
			v := r.Verify(g)
			fmt.Fprintf(out, "offline, against genesis %s:\n", g.Hash())
			printChecks(out, v.Checks)
			ok := v.Valid
			if node != nil {
				nv, err := node.VerifyReceipt(ctx, r)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "against %s:\n", nodeURL)
				printChecks(out, nv.Checks[len(v.Checks):])
				counted := "counted"
				switch {
				case !nv.Valid:
					counted = "NOT counted (see the checks above)"
				case !nv.Counted:
					counted = "NOT counted: a later cast of the same voter key replaced it (the voter's last cast is the one counted)"
				}
				fmt.Fprintf(out, "  cast is %s\n", counted)
				ok = ok && nv.Valid
			}
			if !ok {
				return errors.New("receipt verification failed")
			}
			fmt.Fprintln(out, "receipt valid")
			return nil
		},
	}
	f := verify.Flags()
	f.StringVar(&nodeURL, "node", "", "also check against this node")
	f.StringVar(&genesisPath, "genesis", "", "genesis file of the chain (default: the one your wallet trusts)")
	f.StringVar(&walletPath, "wallet", client.DefaultWalletPath(), "wallet file")
	cmd.AddCommand(verify)
	return cmd
}

func receiptGenesis(path, walletPath string, r *ballot.Receipt) (*consensus.Genesis, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return consensus.ParseGenesis(data)
	}
	w, err := client.OpenWallet(walletPath)
	if err != nil {
		return nil, err
	}
	g, err := w.GenesisOf(r)
	if err != nil {
		return nil, usagef("%s: %v: give --genesis FILE (or --node URL to use the node's)", walletPath, err)
	}
	return g, nil
}

func printChecks(out interface{ Write([]byte) (int, error) }, checks []ballot.ReceiptCheck) {
	for _, c := range checks {
		mark := "✓"
		if !c.OK {
			mark = "✗"
		}
		fmt.Fprintf(out, "  %s %-16s %s\n", mark, c.Name, c.Detail)
	}
}
