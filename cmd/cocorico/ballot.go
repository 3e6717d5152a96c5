package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/node"
)

func newBallotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ballot", Short: "Create and list ballots"}
	cmd.AddCommand(newBallotCreateCmd(), newBallotListCmd())
	return cmd
}

func defaultOrganizerKey() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return "organizer.key"
	}
	return filepath.Join(home, ".cocorico", "organizer.key")
}

func newBallotCreateCmd() *cobra.Command {
	var (
		nodeURL, question, opens, closes, keyPath, tokenFile, keygenCloses string
		registrars, keykeepers                                             []string
		choices                                                            []string
		revote, sealed, noWait                                             bool
		bits, threshold                                                    int
	)
	cmd := &cobra.Command{
		Use:   "create --node URL --question Q --choice A --choice B ... --closes TIME [--opens TIME] [--registrar URL]",
		Short: "Create a ballot and print its id",
		Long: `Create a ballot: each registrar makes a fresh RSA key for it, the
definition is signed with the organizer key and sent to the node, and the
command waits until it is in a final block.

TIME is RFC 3339 (2026-12-06T18:00:00Z) or relative to now (+30m, +7d).
Without --choice the choices are for / against / abstention.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var kks []ballot.Keykeeper
			if sealed {
				if len(keykeepers) == 0 || threshold < 1 || threshold > len(keykeepers) {
					return usagef("a sealed ballot needs --keykeeper NAME=KEYS (from `cocorico keykeeper keygen`) for each keykeeper and --threshold t, 1 ≤ t ≤ their number")
				}
				for _, s := range keykeepers {
					k, err := parseKeykeeper(s)
					if err != nil {
						return usagef("--keykeeper %s: %v", s, err)
					}
					kks = append(kks, k)
				}
			}
			now := time.Now()
			closesAt, err := parseTime(closes, now)
			if err != nil {
				return usagef("--closes: %v", err)
			}
			opensAt := now
			if opens != "" {
				if opensAt, err = parseTime(opens, now); err != nil {
					return usagef("--opens: %v", err)
				}
			}
			if len(choices) == 0 {
				choices = []string{"for", "against", "abstention"}
			}
			if len(registrars) == 0 {
				return usagef("at least one --registrar URL is needed: registrars issue the voters' tokens")
			}
			org, created, err := node.LoadOrCreateKey(keyPath)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if created {
				fmt.Fprintf(out, "· new organizer key written to %s\n", keyPath)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			n := client.NewNode(nodeURL)
			g, err := n.Genesis(ctx)
			if err != nil {
				return err
			}
			if pub := org.Public().(ed25519.PublicKey); !g.App.IsOrganizer(pub) {
				return fmt.Errorf("the organizer key %s (%s) is not among the organizers of chain %q's genesis: only they create ballots (ask the network's validators to name it, or use --key with an organizer's key)",
					keyPath, base64.StdEncoding.EncodeToString(pub), g.ChainID)
			}
			def := &ballot.Definition{ChainID: g.ChainID, GenesisHash: g.Hash(), Question: question, Choices: choices,
				Opens: opensAt.UnixMilli(), Closes: closesAt.UnixMilli(), Revote: revote}
			if sealed {
				kc := now.Add(opensAt.Sub(now) / 2)
				if keygenCloses != "" {
					if kc, err = parseTime(keygenCloses, now); err != nil {
						return usagef("--keygen-closes: %v", err)
					}
				}
				if !kc.After(now) || !kc.Before(opensAt) {
					return usagef("a sealed ballot's keykeepers deal and complain before --keygen-closes and answer before --opens: want now < keygen-closes < opens (give --opens a later time)")
				}
				def.Tally, def.Keykeepers, def.Threshold, def.KeygenCloses = ballot.TallySealed, kks, uint8(threshold), kc.UnixMilli()
			}
			adminToken, err := readAdminToken(tokenFile)
			if err != nil {
				return err
			}
			for _, u := range registrars {
				k, err := client.NewRegistrar(u, adminToken).NewKey(ctx, bits)
				if err != nil {
					return fmt.Errorf("registrar %s: %w", u, err)
				}
				def.Registrars = append(def.Registrars, ballot.Registrar{Name: hostOf(u), URL: strings.TrimRight(u, "/"), Key: k.PublicKey})
			}
			def.Sign(org)
			id, err := n.SubmitDefinition(ctx, def)
			if err != nil {
				return err
			}
			if !noWait {
				for {
					if _, _, err := n.Ballot(ctx, id); err == nil {
						break
					} else if !client.IsCode(err, "not_found") {
						return err
					}
					select {
					case <-ctx.Done():
						return errors.New("the ballot was accepted but is not final yet: check later with `cocorico ballot list`")
					case <-time.After(200 * time.Millisecond):
					}
				}
			}
			fmt.Fprintln(out, id)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&nodeURL, "node", "http://127.0.0.1:8080", "node API URL")
	f.StringVar(&question, "question", "", "the question")
	f.StringArrayVar(&choices, "choice", nil, "a choice label (repeat, 2 to 64)")
	f.StringVar(&opens, "opens", "", "opening time (default now)")
	f.StringVar(&closes, "closes", "", "closing time")
	f.StringArrayVar(&registrars, "registrar", nil, "registrar URL (repeat for several)")
	f.StringVar(&tokenFile, "registrar-token-file", "", "file holding the registrars' admin token (or set $"+adminTokenEnv+")")
	f.StringVar(&keyPath, "key", defaultOrganizerKey(), "organizer key file (created if missing)")
	f.BoolVar(&revote, "revote", true, "allow voters to change their vote while the ballot is open")
	f.BoolVar(&sealed, "sealed", false, "sealed tally: choices encrypted until t keykeepers share after closing (give --opens time for the keykeepers to deal)")
	f.StringArrayVar(&keykeepers, "keykeeper", nil, "a sealed ballot's keykeeper, NAME=KEYS as `cocorico keykeeper keygen` prints them (repeat, 1 to 16)")
	f.IntVar(&threshold, "threshold", 0, "how many keykeepers' shares recover a sealed ballot's key")
	f.StringVar(&keygenCloses, "keygen-closes", "", "end of a sealed ballot's deals and complaints; dealers answer complaints until --opens (default halfway from now to --opens)")
	f.BoolVar(&noWait, "no-wait", false, "print the id without waiting for the ballot to be final")
	f.IntVar(&bits, "key-bits", ballot.KeyBits2048, "registrar key size: 2048 or 3072")
	cmd.MarkFlagRequired("question")
	cmd.MarkFlagRequired("closes")
	return cmd
}

func newBallotListCmd() *cobra.Command {
	var nodeURL string
	cmd := &cobra.Command{
		Use:   "list [--node URL]",
		Short: "List the ballots of the chain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			bs, err := client.NewNode(nodeURL).Ballots(ctx)
			if err != nil {
				return err
			}
			for _, b := range bs {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %-8s  closes %s  %s\n", b.BallotID, b.Status, b.ClosesAt.Format(time.RFC3339), b.Question)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", "http://127.0.0.1:8080", "node API URL")
	return cmd
}

// parseTime reads RFC 3339 or +DURATION (with d for days) relative to now.
func parseTime(s string, now time.Time) (time.Time, error) {
	if rest, ok := strings.CutPrefix(s, "+"); ok {
		mult := time.Duration(1)
		if d, ok := strings.CutSuffix(rest, "d"); ok {
			rest, mult = d+"h", 24
		}
		d, err := time.ParseDuration(rest)
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(d * mult), nil
	}
	return time.Parse(time.RFC3339, s)
}

func hostOf(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return "registrar " + u
}
