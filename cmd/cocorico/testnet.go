package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

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
			n := validators + volunteers
			g := &consensus.Genesis{ChainID: chainID, GenesisTime: time.UnixMilli(time.Now().UnixMilli()).UTC(), Params: consensus.DefaultParams(),
				App: consensus.DefaultAppParams()}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			org, err := addOrganizers(&g.App, filepath.Join(out, "organizer.key"), organizers)
			if err != nil {
				return err
			}
			names := make([]string, n)
			keys := make([]ed25519.PrivateKey, n)
			var bootstrap []string
			for i := range n {
				names[i] = fmt.Sprintf("validator-%d", i)
				if i >= validators {
					names[i] = fmt.Sprintf("volunteer-%d", i-validators)
				}
				home := filepath.Join(out, names[i])
				if err := os.MkdirAll(home, 0o700); err != nil {
					return err
				}
				k, _, err := node.LoadOrCreateKey(node.Home(home).KeyPath())
				if err != nil {
					return err
				}
				keys[i] = k
				if i < validators {
					g.Validators = append(g.Validators, consensus.Validator{Name: names[i], PubKey: k.Public().(ed25519.PublicKey)})
					id, err := p2p.PeerID(k.Public().(ed25519.PublicKey))
					if err != nil {
						return err
					}
					addr := fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", host, p2pBase+i, id)
					if compose {
						addr = fmt.Sprintf("/dns4/%s/tcp/26656/p2p/%s", names[i], id)
					}
					bootstrap = append(bootstrap, addr)
				}
			}
			if err := g.Validate(); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for i := range n {
				h := node.Home(filepath.Join(out, names[i]))
				if err := os.WriteFile(h.GenesisPath(), g.JSON(), 0o644); err != nil {
					return err
				}
				var peers []string
				for j, b := range bootstrap {
					if j != i {
						peers = append(peers, b)
					}
				}
				fc := node.FileConfig{Name: names[i], API: fmt.Sprintf("%s:%d", host, apiBase+i),
					Listen:    []string{fmt.Sprintf("/ip4/%s/tcp/%d", host, p2pBase+i), fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", host, p2pBase+i)},
					Bootstrap: peers}
				if compose {
					// One container per node: the same ports in each, peers
					// found by their service names on the compose network.
					fc.API = "0.0.0.0:8080"
					fc.Listen = []string{"/ip4/0.0.0.0/tcp/26656", "/ip4/0.0.0.0/udp/26656/quic-v1"}
				}
				if err := h.WriteFileConfig(fc); err != nil {
					return err
				}
				fmt.Fprintf(w, "cocorico node --home %s    # %s, API http://%s\n", h, names[i], fc.API)
			}
			if err := os.WriteFile(filepath.Join(out, "genesis.json"), g.JSON(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(w, "genesis %s (chain %q, %d validators)\n", g.Hash(), g.ChainID, validators)
			if org != "" {
				fmt.Fprintf(w, "organizer key %s (create ballots with: cocorico ballot create --key %s ...)\n", org, org)
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

// addOrganizers puts the organizers given as NAME=BASE64 keys in the
// genesis rules; without any, it makes one key at keyPath and returns its
// path. Only these keys can create ballots on the chain.
func addOrganizers(app *consensus.AppParams, keyPath string, given []string) (string, error) {
	for _, o := range given {
		name, b64, ok := strings.Cut(o, "=")
		pub, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil || len(pub) != ed25519.PublicKeySize {
			return "", usagef("--organizer %q: want NAME=BASE64 of a 32-byte Ed25519 public key", o)
		}
		app.Organizers = append(app.Organizers, consensus.Organizer{Name: name, PubKey: pub})
	}
	if len(given) > 0 {
		return "", nil
	}
	k, _, err := node.LoadOrCreateKey(keyPath)
	if err != nil {
		return "", err
	}
	app.Organizers = append(app.Organizers, consensus.Organizer{Name: "organizer", PubKey: k.Public().(ed25519.PublicKey)})
	return keyPath, nil
}
