package main

import (
	"encoding/base64"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/node"
	"github.com/cocorico/node/store"
)

func newRegistrarCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registrar",
		Short: "The registrar: one blind signature per voter per ballot",
	}
	cmd.AddCommand(newRegistrarServeCmd(), newRegistrarKeygenCmd())
	return cmd
}

func newRegistrarServeCmd() *cobra.Command {
	var (
		home, listen, nodeURL, roll, adminToken string
		demoHash                                bool
		lf                                      logFlags
	)
	cmd := &cobra.Command{
		Use:   "serve --home DIR --node URL [--roll FILE] [--listen ADDR]",
		Short: "Serve token requests, new ballot keys and the issuance count",
		Long: `Serve the registrar. The voter roll (CSV voter_id,code) given with --roll
is imported into the registrar's store, codes kept only as salted Argon2id
hashes; voters already imported are kept. Each voter gets one blind
signature per ballot, recorded durably before it is sent. Ballots are read
from the node given with --node and checked against their ids.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(lf.level, lf.json)
			if err != nil {
				return err
			}
			params := registrar.DefaultHashParams
			if demoHash {
				params = registrar.DemoHashParams
			}
			r, err := node.NewRegistrar(node.RegistrarConfig{Home: home, Listen: listen, NodeURL: nodeURL, Roll: roll,
				HashParams: params, AdminToken: adminToken, Logger: logger})
			if err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			fmt.Fprintf(cmd.OutOrStdout(), "registrar serving at %s\n", r.URL())
			return r.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&home, "home", "", "registrar home folder")
	f.StringVar(&listen, "listen", "127.0.0.1:8090", "HTTP address")
	f.StringVar(&nodeURL, "node", "http://127.0.0.1:8080", "a node of the chain, to read ballots from")
	f.StringVar(&roll, "roll", "", "voter roll CSV (voter_id,code) to import")
	f.StringVar(&adminToken, "admin-token", "", "token required to create ballot keys (recommended)")
	f.BoolVar(&demoHash, "demo-hash", false, "cheap code hashes, for demo rolls and benchmarks only")
	lf.add(cmd)
	cmd.MarkFlagRequired("home")
	return cmd
}

func newRegistrarKeygenCmd() *cobra.Command {
	var home string
	var bits int
	cmd := &cobra.Command{
		Use:   "keygen --home DIR [--bits 2048]",
		Short: "Make a fresh RSA key for one ballot and print its public key (base64 DER)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := store.OpenRegistry(filepath.Join(home, "data", "registry"), nil)
			if err != nil {
				return err
			}
			defer reg.Close()
			svc, err := registrarapi.New(registrarapi.Config{Registry: reg})
			if err != nil {
				return err
			}
			k, err := svc.NewKey(bits)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key_id     %s\npublic_key %s\n", k.KeyID, base64.StdEncoding.EncodeToString(k.PublicKey))
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "registrar home folder")
	cmd.Flags().IntVar(&bits, "bits", 2048, "key size: 2048 or 3072")
	cmd.MarkFlagRequired("home")
	return cmd
}
