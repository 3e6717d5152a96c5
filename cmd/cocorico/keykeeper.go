package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// parseKeykeeper reads NAME=SIGNKEY.ENCKEY (standard base64 each), the
// public line `cocorico keykeeper keygen` prints.
func parseKeykeeper(s string) (ballot.Keykeeper, error) {
	name, keys, ok := strings.Cut(s, "=")
	sign, enc, ok2 := strings.Cut(keys, ".")
	if !ok || !ok2 || name == "" {
		return ballot.Keykeeper{}, fmt.Errorf("want NAME=SIGNKEY.ENCKEY")
	}
	k := ballot.Keykeeper{Name: name}
	var err error
	if k.Key, err = base64.StdEncoding.DecodeString(sign); err != nil {
		return k, fmt.Errorf("signing key: %v", err)
	}
	if k.EncKey, err = base64.StdEncoding.DecodeString(enc); err != nil {
		return k, fmt.Errorf("encryption key: %v", err)
	}
	return k, nil
}

func newKeykeeperCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keykeeper", Short: "Hold a share of sealed ballots' keys: keygen, deal, share, run"}
	cmd.AddCommand(newKeykeeperKeygenCmd(), newKeykeeperStepCmd("deal", "Deal this keykeeper's part of a sealed ballot's key, complain against bad deals, answer complaints (before it opens)"),
		newKeykeeperStepCmd("share", "Publish this keykeeper's share of a sealed ballot's key (after it closes)"), newKeykeeperRunCmd())
	return cmd
}

func newKeykeeperKeygenCmd() *cobra.Command {
	var name, out string
	cmd := &cobra.Command{
		Use:   "keygen --name NAME --out FILE",
		Short: "Make a keykeeper's long-term keys (file 0600) and print the NAME=KEYS line for `ballot create --keykeeper`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := client.NewKeykeeperKeys(name)
			if err != nil {
				return err
			}
			if err := k.Save(out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "· keys written to %s (keep it secret, keep a copy)\n", out)
			fmt.Fprintln(cmd.OutOrStdout(), k.Public())
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the keykeeper's name as the ballot shows it")
	cmd.Flags().StringVar(&out, "out", "keykeeper.json", "where to write the keys (refuses to overwrite)")
	cmd.MarkFlagRequired("name")
	return cmd
}

func newKeykeeperStepCmd(use, short string) *cobra.Command {
	var nodeURL, keys, id string
	cmd := &cobra.Command{
		Use:   use + " --ballot ID [--keys FILE] [--node URL]",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bid, err := consensus.ParseHash(id)
			if err != nil {
				return usagef("--ballot: %v", err)
			}
			k, err := client.LoadKeykeeperKeys(keys)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			n := client.NewNode(nodeURL)
			g, err := n.Genesis(ctx)
			if err != nil {
				return err
			}
			say := func(s string) { fmt.Fprintln(cmd.OutOrStdout(), s) }
			return client.KeykeeperStep(ctx, n, g, k, bid, time.Now(), say)
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", "http://127.0.0.1:8080", "node API URL")
	cmd.Flags().StringVar(&keys, "keys", "keykeeper.json", "the keykeeper's keys file")
	cmd.Flags().StringVar(&id, "ballot", "", "the sealed ballot's id")
	cmd.MarkFlagRequired("ballot")
	return cmd
}

func newKeykeeperRunCmd() *cobra.Command {
	var nodeURL, keys string
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "run [--keys FILE] [--node URL] [--every 10s]",
		Short: "Deal, complain, answer and share by itself, at the right times, for every sealed ballot that names this keykeeper",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := client.LoadKeykeeperKeys(keys)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			n := client.NewNode(nodeURL)
			say := func(s string) { fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", time.Now().UTC().Format(time.RFC3339), s) }
			var g *consensus.Genesis
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				if g == nil {
					g, err = n.Genesis(ctx)
				}
				if g != nil {
					bs, err := allBallots(ctx, n)
					if err != nil {
						say("listing ballots: " + err.Error())
					}
					for _, b := range bs {
						if b.Tally != ballot.TallySealed.String() || b.Status == "tallied" {
							continue
						}
						if err := client.KeykeeperStep(ctx, n, g, k, b.BallotID, time.Now(), say); err != nil {
							say(fmt.Sprintf("ballot %s: %v", b.BallotID.Short(), err))
						}
					}
				} else {
					say("genesis: " + err.Error())
				}
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", "http://127.0.0.1:8080", "node API URL")
	cmd.Flags().StringVar(&keys, "keys", "keykeeper.json", "the keykeeper's keys file")
	cmd.Flags().DurationVar(&every, "every", 10*time.Second, "how often to look at the chain")
	return cmd
}

// allBallots lists every ballot of the chain, a page of 200 at a time
// (only the genesis organizers create ballots: they are few).
func allBallots(ctx context.Context, n *client.Node) ([]api.BallotView, error) {
	var out []api.BallotView
	before := -1
	for {
		p, err := n.BallotPage(ctx, before, 200)
		if err != nil {
			return out, err
		}
		out = append(out, p.Ballots...)
		if p.NextBefore == nil {
			return out, nil
		}
		before = *p.NextBefore
	}
}
