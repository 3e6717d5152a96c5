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
		claimUnnamed, login, noBrowser                                                  bool
	)
	cmd := &cobra.Command{
		Use:   "vote --node URL --registrar URL --ballot ID (--voter VOTER_ID --code CODE | --login) --choice LABEL",
		Short: "Vote as a citizen: token, cast, finality, receipt",
		Long: `Vote in a ballot. The first time, a one-time key is made and the registrar
blind-signs a token for it (the registrar never sees the key or the choice).
The cast goes to the node; once it is final, the receipt is fetched, checked
offline against the chain's genesis and written to the receipt file.

Running vote again as the same voter (same --voter and --code) for the same
ballot re-votes with the same key (where the ballot allows it): the later
cast replaces the earlier one. Another voter on the same computer gets a key
of their own: the wallet file (mode 0600) keeps the key and token per chain
(genesis hash), ballot and voter.

With --login, the registrar checks who you are with its identity provider
(France Connect or another OpenID Connect login) instead of a voter id and
code: the system browser opens at the provider's login (or the URL is
printed, to open by hand), which comes back to a port of this computer
(127.0.0.1) with a single-use session for the token. The registrar keeps
only a keyed hash of your identity, never your choice. The wallet names
this vote --voter (default "login").`,
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
			if login && code != "" {
				return usagef("--login and --code: one way to prove who you are")
			}
			if !login && (voterID == "" || code == "") {
				return usagef("--voter and --code are required (or --login)")
			}
			if login && voterID == "" {
				voterID = "login"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out := cmd.OutOrStdout()
			if n := w.Notice(); n != "" {
				fmt.Fprintln(out, "!", n)
			}
			reg := client.NewRegistrar(registrarURL, "")
			req := client.VoteRequest{
				Node:      client.NewNode(nodeURL),
				Registrar: reg,
				BallotID:  id, VoterID: voterID, Code: code, Choice: choice,
				Wallet: w, Rand: rand.Reader, ClaimUnnamed: claimUnnamed,
				Progress: func(s string) { fmt.Fprintln(out, "·", s) },
			}
			if login {
				req.Login = func(ctx context.Context, ballot consensus.Hash) (string, error) {
					return client.LoopbackLogin(ctx, reg, ballot, func(u string) error {
						fmt.Fprintf(out, "· log in at your identity provider: open this URL in your browser\n  %s\n", u)
						if !noBrowser {
							openBrowser(u)
						}
						return nil
					})
				}
			}
			res, err := client.Vote(ctx, req)
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
	f.BoolVar(&login, "login", false, "prove who you are with the registrar's identity provider (OpenID Connect) instead of --voter and --code")
	f.BoolVar(&noBrowser, "no-browser", false, "with --login: print the login URL, do not open a browser")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	for _, name := range []string{"registrar", "ballot", "choice"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}
