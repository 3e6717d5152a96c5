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
	"github.com/cocorico/node/consensus"
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

// ballotFlags are `cocorico ballot create`'s flags.
type ballotFlags struct {
	nodeURL, question, opens, closes, keyPath, tokenFile, keygenCloses string
	registrars, keykeepers                                             []string
	choices                                                            []string
	revote, sealed, noWait                                             bool
	bits, threshold                                                    int
}

func newBallotCreateCmd() *cobra.Command {
	var bf ballotFlags
	cmd := &cobra.Command{
		Use:   "create --node URL --question Q --choice A --choice B ... --closes TIME [--opens TIME] [--registrar URL]",
		Short: "Create a ballot and print its id",
		Long: `Create a ballot: each registrar makes a fresh RSA key for it, the
definition is signed with the organizer key and sent to the node, and the
command waits until it is in a final block.

TIME is RFC 3339 (2026-12-06T18:00:00Z) or relative to now (+30m, +7d).
Without --choice the choices are for / against / abstention.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return createBallot(cmd, &bf) },
	}
	f := cmd.Flags()
	f.StringVar(&bf.nodeURL, "node", "http://127.0.0.1:8080", "node API URL")
	f.StringVar(&bf.question, "question", "", "the question")
	f.StringArrayVar(&bf.choices, "choice", nil, "a choice label (repeat, 2 to 64)")
	f.StringVar(&bf.opens, "opens", "", "opening time (default now)")
	f.StringVar(&bf.closes, "closes", "", "closing time")
	f.StringArrayVar(&bf.registrars, "registrar", nil, "registrar URL (repeat for several)")
	f.StringVar(&bf.tokenFile, "registrar-token-file", "", "file holding the registrars' admin token (or set $"+adminTokenEnv+")")
	f.StringVar(&bf.keyPath, "key", defaultOrganizerKey(), "organizer key file (created if missing)")
	f.BoolVar(&bf.revote, "revote", true, "allow voters to change their vote while the ballot is open")
	f.BoolVar(&bf.sealed, "sealed", false, "sealed tally: choices encrypted until t keykeepers share after closing (give --opens time for the keykeepers to deal)")
	f.StringArrayVar(&bf.keykeepers, "keykeeper", nil, "a sealed ballot's keykeeper, NAME=KEYS as `cocorico keykeeper keygen` prints them (repeat, 1 to 16)")
	f.IntVar(&bf.threshold, "threshold", 0, "how many keykeepers' shares recover a sealed ballot's key")
	f.StringVar(&bf.keygenCloses, "keygen-closes", "", "end of a sealed ballot's deals and complaints; dealers answer complaints until --opens (default halfway from now to --opens)")
	f.BoolVar(&bf.noWait, "no-wait", false, "print the id without waiting for the ballot to be final")
	f.IntVar(&bf.bits, "key-bits", ballot.KeyBits2048, "registrar key size: 2048 or 3072")
	cmd.MarkFlagRequired("question")
	cmd.MarkFlagRequired("closes")
	return cmd
}

// createBallot makes the definition the flags describe, has each
// registrar make its key, signs, sends and (unless --no-wait) waits until
// the ballot is final.
func createBallot(cmd *cobra.Command, bf *ballotFlags) error {
	now := time.Now()
	def, err := ballotDefinition(bf, now)
	if err != nil {
		return err
	}
	org, created, err := node.LoadOrCreateKey(bf.keyPath)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if created {
		fmt.Fprintf(out, "· new organizer key written to %s\n", bf.keyPath)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
	defer cancel()
	n := client.NewNode(bf.nodeURL)
	g, err := n.Genesis(ctx)
	if err != nil {
		return err
	}
	if pub := org.Public().(ed25519.PublicKey); !g.App.IsOrganizer(pub) {
		return fmt.Errorf("the organizer key %s (%s) is not among the organizers of chain %q's genesis: only they create ballots (ask the network's validators to name it, or use --key with an organizer's key)",
			bf.keyPath, base64.StdEncoding.EncodeToString(pub), g.ChainID)
	}
	def.ChainID, def.GenesisHash = g.ChainID, g.Hash()
	adminToken, err := readAdminToken(bf.tokenFile)
	if err != nil {
		return err
	}
	for _, u := range bf.registrars {
		k, err := client.NewRegistrar(u, adminToken).NewKey(ctx, bf.bits)
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
	if !bf.noWait {
		if err := waitBallotFinal(ctx, n, id); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, id)
	return nil
}

// ballotDefinition checks the flags and makes the definition (without
// its chain, registrars and signature).
func ballotDefinition(bf *ballotFlags, now time.Time) (*ballot.Definition, error) {
	var kks []ballot.Keykeeper
	if bf.sealed {
		if len(bf.keykeepers) == 0 || bf.threshold < 1 || bf.threshold > len(bf.keykeepers) {
			return nil, usagef("a sealed ballot needs --keykeeper NAME=KEYS (from `cocorico keykeeper keygen`) for each keykeeper and --threshold t, 1 ≤ t ≤ their number")
		}
		for _, s := range bf.keykeepers {
			k, err := parseKeykeeper(s)
			if err != nil {
				return nil, usagef("--keykeeper %s: %v", s, err)
			}
			kks = append(kks, k)
		}
	}
	closesAt, err := parseTime(bf.closes, now)
	if err != nil {
		return nil, usagef("--closes: %v", err)
	}
	opensAt := now
	if bf.opens != "" {
		if opensAt, err = parseTime(bf.opens, now); err != nil {
			return nil, usagef("--opens: %v", err)
		}
	}
	choices := bf.choices
	if len(choices) == 0 {
		choices = []string{"for", "against", "abstention"}
	}
	if len(bf.registrars) == 0 {
		return nil, usagef("at least one --registrar URL is needed: registrars issue the voters' tokens")
	}
	def := &ballot.Definition{Question: bf.question, Choices: choices, Opens: opensAt.UnixMilli(), Closes: closesAt.UnixMilli(), Revote: bf.revote}
	if bf.sealed {
		kc := now.Add(opensAt.Sub(now) / 2)
		if bf.keygenCloses != "" {
			if kc, err = parseTime(bf.keygenCloses, now); err != nil {
				return nil, usagef("--keygen-closes: %v", err)
			}
		}
		if !kc.After(now) || !kc.Before(opensAt) {
			return nil, usagef("a sealed ballot's keykeepers deal and complain before --keygen-closes and answer before --opens: want now < keygen-closes < opens (give --opens a later time)")
		}
		def.Tally, def.Keykeepers, def.Threshold, def.KeygenCloses = ballot.TallySealed, kks, uint8(bf.threshold), kc.UnixMilli()
	}
	return def, nil
}

// waitBallotFinal waits until the node serves the ballot (it is final).
func waitBallotFinal(ctx context.Context, n *client.Node, id consensus.Hash) error {
	for {
		if _, _, err := n.Ballot(ctx, id); err == nil {
			return nil
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
