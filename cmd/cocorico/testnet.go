package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node"
	"github.com/cocorico/node/p2p"
)

func newTestnetCmd() *cobra.Command {
	var (
		validators, volunteers, p2pBase, apiBase int
		out, chainID, host                       string
		organizers                               []string
		compose                                  bool
	)
	cmd := &cobra.Command{
		Use:   "testnet --validators N --out DIR [--volunteers M]",
		Short: "Write the homes, keys and genesis of a new network",
		Long: `Write one home folder per node (node key, config.json with addresses and
bootstrap peers) and the shared genesis.json naming the validators, then
print the command that starts each node. Validator i listens on
P2P-BASE+i (TCP and QUIC) and serves its API on API-BASE+i; volunteers come
after the validators. For machines of their own, edit each config.json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if validators < 1 || validators > consensus.MaxValidators {
				return usagef("--validators %d: want 1 to %d", validators, consensus.MaxValidators)
			}
			if _, err := os.Stat(filepath.Join(out, "genesis.json")); err == nil {
				return fmt.Errorf("%s already holds a network: refusing to overwrite its keys", out)
			}
			app := consensus.DefaultAppParams()
			if err := parseOrganizers(&app, organizers); err != nil {
				return err
			}
			homes := testnetHomes(out, validators, volunteers)
			orgKey := filepath.Join(out, "organizer.key")
			g, err := node.NewGenesis(node.ChainSpec{ChainID: chainID, Validators: homes[:validators], App: app, OrganizerKey: orgKey})
			if err != nil {
				return err
			}
			net := testnetLayout{host: host, p2pBase: p2pBase, apiBase: apiBase, compose: compose}
			bootstrap, err := net.bootstrap(g)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for i, h := range homes {
				if _, _, err := node.LoadOrCreateKey(h.KeyPath()); err != nil { // volunteers' keys
					return err
				}
				fc, err := net.writeHome(h, i, g, bootstrap)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "cocorico node --home %s    # %s, API http://%s\n", h, fc.Name, fc.API)
			}
			if err := os.WriteFile(filepath.Join(out, "genesis.json"), g.JSON(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(w, "genesis %s (chain %q, %d validators)\n", g.Hash(), g.ChainID, validators)
			if len(organizers) == 0 {
				fmt.Fprintf(w, "organizer key %s (create ballots with: cocorico ballot create --key %s ...)\n", orgKey, orgKey)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&validators, "validators", 4, "number of validators")
	f.IntVar(&volunteers, "volunteers", 0, "number of volunteer homes")
	f.StringVar(&out, "out", "", "folder to write the homes into")
	f.StringVar(&chainID, "chain-id", "testnet", "chain id")
	f.StringVar(&host, "host", "127.0.0.1", "address the nodes listen on and dial each other at")
	f.IntVar(&p2pBase, "p2p-base-port", 26656, "libp2p port of node 0 (node i: +i)")
	f.IntVar(&apiBase, "api-base-port", 8080, "API port of node 0 (node i: +i)")
	f.StringArrayVar(&organizers, "organizer", nil, "an organizer allowed to create ballots: NAME=BASE64_ED25519_PUBLIC_KEY (repeat); without it, a new key is written to OUT/organizer.key")
	f.BoolVar(&compose, "compose", false, "configure for one container per node (deploy/compose.yaml): same ports, peers by service name")
	cmd.MarkFlagRequired("out")
	return cmd
}

// parseOrganizers puts the organizers given as NAME=BASE64 keys in the
// genesis rules: only these keys can create ballots on the chain (with
// none, the genesis names a new key written beside the homes).
func parseOrganizers(app *consensus.AppParams, given []string) error {
	for _, o := range given {
		name, b64, ok := strings.Cut(o, "=")
		pub, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil || len(pub) != ed25519.PublicKeySize {
			return usagef("--organizer %q: want NAME=BASE64 of a 32-byte Ed25519 public key", o)
		}
		app.Organizers = append(app.Organizers, consensus.Organizer{Name: name, PubKey: pub})
	}
	return nil
}

// testnetHomes names the homes of a testnet: validator-0… then volunteer-0….
func testnetHomes(out string, validators, volunteers int) []node.Home {
	homes := make([]node.Home, 0, validators+volunteers)
	for i := range validators {
		homes = append(homes, node.Home(filepath.Join(out, fmt.Sprintf("validator-%d", i))))
	}
	for i := range volunteers {
		homes = append(homes, node.Home(filepath.Join(out, fmt.Sprintf("volunteer-%d", i))))
	}
	return homes
}

// testnetLayout is where a testnet's nodes listen and find each other:
// node i on p2pBase+i and apiBase+i of host, or, for the compose cluster,
// the same ports in every container and peers by service name.
type testnetLayout struct {
	host             string
	p2pBase, apiBase int
	compose          bool
}

// bootstrap returns the validators' multiaddrs.
func (l testnetLayout) bootstrap(g *consensus.Genesis) ([]string, error) {
	var out []string
	for i, v := range g.Validators {
		id, err := p2p.PeerID(v.PubKey)
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", l.host, l.p2pBase+i, id)
		if l.compose {
			addr = fmt.Sprintf("/dns4/%s/tcp/26656/p2p/%s", v.Name, id)
		}
		out = append(out, addr)
	}
	return out, nil
}

// writeHome writes node i's genesis and config.json (its addresses, and
// every validator but itself to bootstrap from).
func (l testnetLayout) writeHome(h node.Home, i int, g *consensus.Genesis, bootstrap []string) (node.FileConfig, error) {
	if err := os.WriteFile(h.GenesisPath(), g.JSON(), 0o644); err != nil {
		return node.FileConfig{}, err
	}
	var peers []string
	for j, b := range bootstrap {
		if j != i {
			peers = append(peers, b)
		}
	}
	fc := node.FileConfig{Name: filepath.Base(string(h)), API: fmt.Sprintf("%s:%d", l.host, l.apiBase+i),
		Listen:    []string{fmt.Sprintf("/ip4/%s/tcp/%d", l.host, l.p2pBase+i), fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", l.host, l.p2pBase+i)},
		Bootstrap: peers}
	if l.compose {
		// One container per node: the same ports in each, peers found by
		// their service names on the compose network.
		fc.API = "0.0.0.0:8080"
		fc.Listen = []string{"/ip4/0.0.0.0/tcp/26656", "/ip4/0.0.0.0/udp/26656/quic-v1"}
	}
	return fc, h.WriteFileConfig(fc)
}
