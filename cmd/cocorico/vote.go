package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/consensus"
)

func newVoteCmd() *cobra.Command {
	var (
		nodeURL, registrarURL, ballotID, voterID, code, choice, receiptPath, walletPath string
		timeout                                                                         time.Duration
		claimUnnamed                                                                    bool
	)
	cmd := &cobra.Command{
		Use:   "vote --node URL --registrar URL --ballot ID --voter VOTER_ID --code CODE --choice LABEL",
		Short: "Vote as a citizen: token, cast, finality, receipt",
		Long: `Vote in a ballot. The first time, a one-time key is made and the registrar
blind-signs a token for it (the registrar never sees the key or the choice).
The cast goes to the node; once it is final, the receipt is fetched, checked
offline against the chain's genesis and written to the receipt file.

Running vote again as the same voter (same --voter and --code) for the same
ballot re-votes with the same key (where the ballot allows it): the later
cast replaces the earlier one. Another voter on the same computer gets a key
of their own: the wallet file (mode 0600) keeps the key and token per chain
(genesis hash), ballot and voter.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := consensus.ParseHash(ballotID)
			if err != nil {
				return usagef("--ballot: %v", err)
			}
			if receiptPath == "" {
				receiptPath = "receipt-" + id.String()[:12] + ".json"
			}
			w, err := client.OpenWallet(walletPath)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out := cmd.OutOrStdout()
			if n := w.Notice(); n != "" {
				fmt.Fprintln(out, "!", n)
			}
			res, err := client.Vote(ctx, client.VoteRequest{
				Node:      client.NewNode(nodeURL),
				Registrar: client.NewRegistrar(registrarURL, ""),
				BallotID:  id, VoterID: voterID, Code: code, Choice: choice,
				Wallet: w, Rand: rand.Reader, ClaimUnnamed: claimUnnamed,
				Progress: func(s string) { fmt.Fprintln(out, "·", s) },
			})
			if err != nil {
				return err
			}
			data, err := json.MarshalIndent(res.Receipt, "", "  ")
			if err != nil {
				return err
			}
			if err := client.WriteFileAtomic(receiptPath, append(data, '\n'), 0o600); err != nil {
				return err
			}
			kind := "first vote as " + res.VoterID
			if res.Revote {
				kind = fmt.Sprintf("re-vote as %s (seq %d, replaces your cast %s)", res.VoterID, res.Seq, res.Replaces)
			}
			fmt.Fprintf(out, "✓ %s final: cast %s in block %d\n", kind, res.CastID, res.Receipt.Height)
			fmt.Fprintf(out, "✓ receipt verified offline (%d checks) and written to %s\n", len(res.Checks.Checks), receiptPath)
			fmt.Fprintf(out, "  check it on any node: cocorico receipt verify %s --node URL\n", receiptPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&nodeURL, "node", "http://127.0.0.1:8080", "node API URL")
	f.StringVar(&registrarURL, "registrar", "", "registrar URL")
	f.StringVar(&ballotID, "ballot", "", "ballot id (hex)")
	f.StringVar(&voterID, "voter", "", "your voter id on the registrar's roll")
	f.StringVar(&code, "code", "", "your code on the registrar's roll")
	f.StringVar(&choice, "choice", "", "your choice: one of the ballot's labels")
	f.StringVar(&receiptPath, "receipt", "", "receipt file to write (default receipt-<ballot>.json)")
	f.StringVar(&walletPath, "wallet", client.DefaultWalletPath(), "wallet file (one-time keys, tokens, trusted genesis)")
	f.BoolVar(&claimUnnamed, "claim-unnamed", false, "re-vote with the key an old-format wallet kept for this ballot without recording the voter (only if that vote was yours)")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	for _, name := range []string{"registrar", "ballot", "voter", "code", "choice"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}
