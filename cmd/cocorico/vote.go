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

// voteFlags are `cocorico vote`'s flags.
type voteFlags struct {
	nodeURL, registrarURL, ballotID, voterID, code, choice, receiptPath, walletPath string
	timeout                                                                         time.Duration
	claimUnnamed, login, noBrowser                                                  bool
}

func newVoteCmd() *cobra.Command {
	var vf voteFlags
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
		RunE: func(cmd *cobra.Command, _ []string) error { return vote(cmd, &vf) },
	}
	f := cmd.Flags()
	f.StringVar(&vf.nodeURL, "node", "http://127.0.0.1:8080", "node API URL")
	f.StringVar(&vf.registrarURL, "registrar", "", "registrar URL")
	f.StringVar(&vf.ballotID, "ballot", "", "ballot id (hex)")
	f.StringVar(&vf.voterID, "voter", "", "your voter id on the registrar's roll")
	f.StringVar(&vf.code, "code", "", "your code on the registrar's roll")
	f.StringVar(&vf.choice, "choice", "", "your choice: one of the ballot's labels")
	f.StringVar(&vf.receiptPath, "receipt", "", "receipt file to write (default receipt-<first 12 digits of the ballot id>-<voter id>.json)")
	f.StringVar(&vf.walletPath, "wallet", client.DefaultWalletPath(), "wallet file (one-time keys, tokens, trusted genesis)")
	f.BoolVar(&vf.claimUnnamed, "claim-unnamed", false, "re-vote with the key an old-format wallet kept for this ballot without recording the voter (only if that vote was yours)")
	f.BoolVar(&vf.login, "login", false, "prove who you are with the registrar's identity provider (OpenID Connect) instead of --voter and --code")
	f.BoolVar(&vf.noBrowser, "no-browser", false, "with --login: print the login URL, do not open a browser")
	f.DurationVar(&vf.timeout, "timeout", 5*time.Minute, "give up after this long")
	for _, name := range []string{"registrar", "ballot", "choice"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

// vote runs the whole voter side and writes the receipt.
func vote(cmd *cobra.Command, vf *voteFlags) error {
	id, err := consensus.ParseHash(vf.ballotID)
	if err != nil {
		return usagef("--ballot: %v", err)
	}
	if vf.login && vf.code != "" {
		return usagef("--login and --code: one way to prove who you are")
	}
	if !vf.login && (vf.voterID == "" || vf.code == "") {
		return usagef("--voter and --code are required (or --login)")
	}
	if vf.login && vf.voterID == "" {
		vf.voterID = "login"
	}
	if vf.receiptPath == "" {
		vf.receiptPath = defaultReceiptPath(id, vf.voterID)
	}
	w, err := client.OpenWallet(vf.walletPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), vf.timeout)
	defer cancel()
	out := cmd.OutOrStdout()
	if n := w.Notice(); n != "" {
		fmt.Fprintln(out, "!", n)
	}
	reg := client.NewRegistrar(vf.registrarURL, "")
	req := client.VoteRequest{
		Node:      client.NewNode(vf.nodeURL),
		Registrar: reg,
		BallotID:  id, VoterID: vf.voterID, Code: vf.code, Choice: vf.choice,
		Wallet: w, Rand: rand.Reader, ClaimUnnamed: vf.claimUnnamed,
		Progress: func(s string) { fmt.Fprintln(out, "·", s) },
	}
	if vf.login {
		req.Login = func(ctx context.Context, ballot consensus.Hash) (string, error) {
			return client.LoopbackLogin(ctx, reg, ballot, func(u string) error {
				fmt.Fprintf(out, "· log in at your identity provider: open this URL in your browser\n  %s\n", u)
				if !vf.noBrowser {
					openBrowser(u)
				}
				return nil
			})
		}
	}
	res, err := client.Vote(ctx, req)
	if client.IsCode(err, "already_issued") {
		return fmt.Errorf("%w\n  this voter already has its one token for this ballot, in another wallet: to vote again, use the wallet that voted (the same computer, or its file with --wallet)", err)
	}
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(res.Receipt, "", "  ")
	if err != nil {
		return err
	}
	if err := client.WriteFileAtomic(vf.receiptPath, append(data, '\n'), 0o600); err != nil {
		return err
	}
	kind := "first vote as " + res.VoterID
	if res.Revote {
		kind = fmt.Sprintf("re-vote as %s (seq %d, replaces your cast %s)", res.VoterID, res.Seq, res.Replaces)
	}
	fmt.Fprintf(out, "✓ %s final: cast %s in block %d\n", kind, res.CastID, res.Receipt.Height)
	fmt.Fprintf(out, "✓ receipt verified offline (%d checks) and written to %s\n", len(res.Checks.Checks), vf.receiptPath)
	fmt.Fprintf(out, "  check it on any node (on another one than this, it shows you need not trust this one): %s receipt verify %s --node %s\n", self(), vf.receiptPath, vf.nodeURL)
	return nil
}

// defaultReceiptPath names a voter's receipt by the ballot id's first 12
// hex digits and the voter id (each voter of one computer keeps theirs: a
// re-vote replaces the voter's own), the voter id kept to letters, digits,
// '.', '_' and '-' (others become '_'), at most 64 of them.
func defaultReceiptPath(ballot consensus.Hash, voter string) string {
	name := []rune{}
	for _, r := range voter {
		if len(name) == 64 {
			break
		}
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			r = '_'
		}
		name = append(name, r)
	}
	return "receipt-" + ballot.String()[:12] + "-" + string(name) + ".json"
}
