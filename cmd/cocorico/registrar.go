package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/node"
	"github.com/cocorico/node/node/issuer"
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
		home, listen, nodeURL, roll, tokenFile, ipHeader, configFile string
		demoHash                                                     bool
		maxChecks                                                    int
		throttle                                                     = registrar.DefaultThrottle
		lf                                                           logFlags
	)
	cmd := &cobra.Command{
		Use:   "serve --home DIR --node URL [--roll FILE] [--listen ADDR]",
		Short: "Serve token requests, new ballot keys and the issuance count",
		Long: `Serve the registrar. The voter roll (CSV voter_id,code) given with --roll
is imported into the registrar's store, codes kept only as salted Argon2id
hashes; voters already imported are kept. Each voter gets one blind
signature per ballot, recorded durably before it is sent. Ballots are read
from the node given with --node and checked against their ids.

Wrong codes are throttled: per voter id (a lockout after --lockout-after
wrong codes, doubling from --lockout up to 1 h) and per client address
(--address-burst at once, then one per --address-every). Behind a reverse
proxy, name the header it sets with --client-ip-header (off by default).

The admin endpoint (POST /v1/keys, used by 'ballot create') is off unless
an admin token is configured: in the file --admin-token-file (mode 0600)
or in $` + adminTokenEnv + `. It is never taken from the command line.

With --config, voters may also log in with OpenID Connect (France Connect
or any provider): the file names the provider, the client, the allowed
origins and the eligibility rules; the client secret and the subject-hash
key are read from the files it names or from $` + node.ClientSecretEnv + `
and $` + node.SubjectKeyEnv + `. The roll and the login may serve together.`,
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
			adminToken, err := readAdminToken(tokenFile)
			if err != nil {
				return err
			}
			rc := node.RegistrarConfig{Home: home, Listen: listen, NodeURL: nodeURL, Roll: roll,
				HashParams: params, AdminToken: adminToken, ClientIPHeader: ipHeader, Throttle: throttle,
				MaxChecks: maxChecks, Logger: logger}
			if configFile != "" {
				if rc.Login, err = node.ReadRegistrarFile(configFile); err != nil {
					return err
				}
			}
			r, err := node.NewRegistrar(rc)
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
	f.StringVar(&configFile, "config", "", "registrar config file (JSON): the OpenID Connect login, see docs/OPERATIONS.md")
	f.StringVar(&tokenFile, "admin-token-file", "", "file holding the admin token that turns POST /v1/keys on (or set $"+adminTokenEnv+")")
	f.StringVar(&ipHeader, "client-ip-header", "", "header a trusted reverse proxy sets to the client's address (e.g. X-Forwarded-For); off: the connection's address")
	f.IntVar(&throttle.VoterFailures, "lockout-after", throttle.VoterFailures, "wrong codes that lock a voter id out")
	f.DurationVar(&throttle.LockoutBase, "lockout", throttle.LockoutBase, "first lockout of a voter id (doubling each time, up to --lockout-max)")
	f.DurationVar(&throttle.LockoutMax, "lockout-max", throttle.LockoutMax, "longest lockout of a voter id")
	f.IntVar(&throttle.AddressBurst, "address-burst", throttle.AddressBurst, "wrong codes one client address may make at once")
	f.DurationVar(&throttle.AddressEvery, "address-every", throttle.AddressEvery, "then one more wrong code per this long")
	f.IntVar(&maxChecks, "max-code-checks", 0, "slow code hashes at once (0: the number of cores)")
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
			svc, err := issuer.New(issuer.Config{Registry: reg})
			if err != nil {
				return err
			}
			id, der, err := svc.NewKey(bits)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key_id     %s\npublic_key %s\n", id, base64.StdEncoding.EncodeToString(der))
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "registrar home folder")
	cmd.Flags().IntVar(&bits, "bits", 2048, "key size: 2048 or 3072")
	cmd.MarkFlagRequired("home")
	return cmd
}

// adminTokenEnv holds the registrar's admin token when no file is given,
// for the registrar and for the organizer ('ballot create') alike.
const adminTokenEnv = "COCORICO_REGISTRAR_ADMIN_TOKEN"

// readAdminToken reads the registrar's admin token from file, or, if file
// is empty, from $COCORICO_REGISTRAR_ADMIN_TOKEN; "" if neither is set.
// Never from the command line: argv is readable by every user of the
// machine (ps, /proc) and kept in shell histories.
func readAdminToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv(adminTokenEnv)), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", errors.New("admin token: " + file + " is empty")
	}
	return tok, nil
}
