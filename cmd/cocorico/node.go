package main

import (
	"context"
	"io"
	"time"

	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/spf13/cobra"

	"github.com/cocorico/node/node"
)

// signalContext is ctx cancelled by Ctrl-C or SIGTERM.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func newLogger(level string, json bool) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	if json {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
}

type logFlags struct {
	level string
	json  bool
}

func (lf *logFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&lf.level, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().BoolVar(&lf.json, "log-json", false, "logs as JSON lines")
}

func newInitCmd() *cobra.Command {
	var home, genesis string
	cmd := &cobra.Command{
		Use:   "init --home DIR [--genesis FILE]",
		Short: "Make a new node home (node key), to join a network as a volunteer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h := node.Home(home)
			if err := os.MkdirAll(home, 0o700); err != nil {
				return err
			}
			k, created, err := node.LoadOrCreateKey(h.KeyPath())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !created {
				fmt.Fprintf(out, "%s already has a node key\n", home)
			}
			if genesis != "" {
				g, err := node.ReadGenesis(genesis)
				if err != nil {
					return err
				}
				if err := os.WriteFile(h.GenesisPath(), g.JSON(), 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(out, "home     %s\nnode id  %x (its public key; the private key stays in the home, mode 0600)\n", home, k.Public())
			if genesis == "" {
				fmt.Fprintf(out, "next: copy the network's genesis.json into %s, then run\n  cocorico node --home %s --bootstrap MULTIADDR\n", home, home)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "node home folder")
	cmd.Flags().StringVar(&genesis, "genesis", "", "the network's genesis.json to copy into the home")
	cmd.MarkFlagRequired("home")
	return cmd
}

// nodeFlags are `cocorico node`'s flags.
type nodeFlags struct {
	home, genesis, apiAddr string
	listen, bootstrap      []string
	mdns, pprof            bool
	clientIPHeader         string
	unsafeReset            bool
	maxDiskGB, maxSyncMBps float64
	p2pPort                int
	fullVerify             bool
	snapshotInterval       int64
	snapshotKeep           int
	snapshotMaxGB          float64
	stateSyncWait          time.Duration
	corruptChunks          bool
	snapshotChunkBits      uint8
	lf                     logFlags
}

func newNodeCmd() *cobra.Command {
	var nf nodeFlags
	cmd := &cobra.Command{
		Use:   "node --home DIR [--genesis FILE] [--api ADDR] [--bootstrap MULTIADDR,...] [--p2p-port N | --listen MULTIADDR,...]",
		Short: "Run a node: a validator if the genesis names its key, a volunteer otherwise",
		Long: `Run a node: a validator if the genesis names its key, a volunteer otherwise.

A node given peers (--bootstrap, --mdns) and no --listen listens for peers
on every interface at --p2p-port (26656), TCP and QUIC. --listen "" starts
no peer network (a lone validator). A flag that cannot take effect is an
error: --bootstrap or --mdns with --listen "", --p2p-port with --listen,
--max-sync-mbps without peers, --max-disk-gb on a validator, a volunteer
with no peers at all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runNode(cmd, &nf) },
	}
	f := cmd.Flags()
	f.StringVar(&nf.home, "home", "", "node home folder")
	f.StringVar(&nf.genesis, "genesis", "", "genesis file (default HOME/genesis.json)")
	f.StringVar(&nf.apiAddr, "api", "127.0.0.1:8080", "HTTP API address")
	f.StringSliceVar(&nf.listen, "listen", nil, "libp2p listen multiaddrs")
	f.StringSliceVar(&nf.bootstrap, "bootstrap", nil, "peers to dial at start (multiaddrs with /p2p/ID)")
	f.BoolVar(&nf.mdns, "mdns", false, "find peers on the local network with mDNS")
	f.BoolVar(&nf.pprof, "pprof", false, "serve Go's profiles under /debug/pprof/ on the API")
	f.StringVar(&nf.clientIPHeader, "client-ip-header", "", "header a trusted reverse proxy sets to the client's address (e.g. X-Forwarded-For), whose refused transactions are throttled; off: the connection's address")
	f.IntVar(&nf.p2pPort, "p2p-port", node.DefaultP2PPort, "port to listen on for peers (TCP and QUIC, every interface) when no --listen is given")
	f.Float64Var(&nf.maxDiskGB, "max-disk-gb", 0, "volunteer: stop following the chain while the ledger is larger (0: no limit)")
	f.Float64Var(&nf.maxSyncMBps, "max-sync-mbps", 0, "cap on block-sync download, MiB/s (0: no cap)")
	f.BoolVar(&nf.unsafeReset, "unsafe-reset-consensus-state", false, "validator: start without a trustworthy consensus state "+
		"(missing or older than the ledger); it signs nothing until the network has passed the heights it may have signed "+
		"(docs/OPERATIONS.md)")
	f.BoolVar(&nf.fullVerify, "full-verify", false, "volunteer with an empty ledger: replay and re-verify every block from genesis instead of joining from a peer's state snapshot")
	f.Int64Var(&nf.snapshotInterval, "snapshot-interval", 1000, "take a state snapshot (for nodes joining by state sync) after every block whose height is a multiple of this; -1: none")
	f.IntVar(&nf.snapshotKeep, "snapshot-keep", 2, "state snapshots kept")
	f.Float64Var(&nf.snapshotMaxGB, "snapshot-max-gb", 20, "disk the snapshots may take, GiB (the newest is always kept)")
	f.DurationVar(&nf.stateSyncWait, "state-sync-wait", 20*time.Second, "volunteer with an empty ledger: how long to look for a snapshot before replaying from genesis")
	f.Uint8Var(&nf.snapshotChunkBits, "snapshot-chunk-bits", 12, "state snapshots are served in chunks of 2^N records (4 to 16)")
	f.BoolVar(&nf.corruptChunks, "test-corrupt-snapshot-chunks", false, "fault injection for tests: serve every snapshot chunk with a byte changed")
	f.MarkHidden("test-corrupt-snapshot-chunks")
	nf.lf.add(cmd)
	cmd.MarkFlagRequired("home")
	return cmd
}

// runNode starts the node the flags and the home describe and runs it
// until Ctrl-C or SIGTERM.
func runNode(cmd *cobra.Command, nf *nodeFlags) error {
	cfg, err := nodeConfig(cmd, nf)
	if err != nil {
		return err
	}
	n, err := node.New(cfg)
	if errors.Is(err, node.ErrFlagWithoutEffect) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	ctx, cancel := signalContext(cmd.Context())
	defer cancel()
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s of chain %s at height %d · API %s · p2p %s\n",
		cfg.Name, n.Role(), cfg.Genesis.ChainID, n.Height(), n.APIURL(), n.P2PAddr())
	if term.IsTerminal(int(os.Stderr.Fd())) && !nf.lf.json {
		go showSync(ctx, n, cmd.ErrOrStderr())
	}
	return n.Run(ctx)
}

// nodeConfig reads the home (key, genesis, config.json) and lets the
// flags given override it.
func nodeConfig(cmd *cobra.Command, nf *nodeFlags) (node.Config, error) {
	logger, err := newLogger(nf.lf.level, nf.lf.json)
	if err != nil {
		return node.Config{}, err
	}
	h := node.Home(nf.home)
	fc, err := h.ReadFileConfig()
	if err != nil {
		return node.Config{}, err
	}
	genesis := nf.genesis
	if genesis == "" {
		genesis = h.GenesisPath()
	}
	g, err := node.ReadGenesis(genesis)
	if errors.Is(err, fs.ErrNotExist) {
		return node.Config{}, usagef("no genesis at %s: give --genesis FILE", genesis)
	}
	if err != nil {
		return node.Config{}, err
	}
	k, err := node.LoadKey(h.KeyPath())
	if errors.Is(err, fs.ErrNotExist) {
		return node.Config{}, usagef("no node key in %s: run `cocorico init --home %s` first", nf.home, nf.home)
	}
	if err != nil {
		return node.Config{}, err
	}
	cfg := node.Config{Home: h, Genesis: g, Key: k, Name: fc.Name, APIAddr: fc.API, Logger: logger, Version: version,
		P2P: node.P2PConfig{Listen: fc.Listen, Bootstrap: fc.Bootstrap}}
	if fc.MDNS != nil {
		cfg.P2P.MDNS = *fc.MDNS
	}
	changed := cmd.Flags().Changed
	if changed("api") || cfg.APIAddr == "" {
		cfg.APIAddr = nf.apiAddr
	}
	noNetwork := false
	if changed("listen") {
		cfg.P2P.Listen = splitList(nf.listen)
		noNetwork = len(cfg.P2P.Listen) == 0
	}
	if changed("bootstrap") {
		cfg.P2P.Bootstrap = splitList(nf.bootstrap)
	}
	if changed("mdns") {
		cfg.P2P.MDNS = nf.mdns
	}
	if changed("p2p-port") {
		cfg.P2P.Port = nf.p2pPort
	}
	if err := checkPeerFlags(&cfg, noNetwork); err != nil {
		return node.Config{}, err
	}
	cfg.Pprof = nf.pprof
	cfg.ClientIPHeader = nf.clientIPHeader
	cfg.UnsafeResetConsensusState = nf.unsafeReset
	cfg.FullVerify = nf.fullVerify
	cfg.StateSyncWait = nf.stateSyncWait
	cfg.Snapshots = node.SnapshotConfig{Interval: nf.snapshotInterval, Keep: nf.snapshotKeep, MaxBytes: int64(nf.snapshotMaxGB * (1 << 30)),
		ChunkBits: nf.snapshotChunkBits, TestCorruptChunks: nf.corruptChunks}
	cfg.MaxDiskBytes = int64(nf.maxDiskGB * (1 << 30))
	cfg.P2P.MaxSyncBytesPerSec = int64(nf.maxSyncMBps * (1 << 20))
	if cfg.Name == "" {
		cfg.Name = filepath.Base(nf.home)
	}
	return cfg, nil
}

// checkPeerFlags refuses what would leave the node without the peers it
// was told about, before anything starts (issue 10 item 9): peers or a
// port with --listen "" (no peer network), and a volunteer with no way to
// find a peer (it would stay at height 0).
func checkPeerFlags(cfg *node.Config, noNetwork bool) error {
	p := cfg.P2P
	if noNetwork {
		switch {
		case len(p.Bootstrap) > 0:
			return usagef("--bootstrap with --listen \"\" (no peer network): the peers could never be dialed; drop --listen \"\" to listen on port %d", node.DefaultP2PPort)
		case p.MDNS:
			return usagef("--mdns with --listen \"\" (no peer network): nothing would be found")
		case p.Port != 0:
			return usagef("--p2p-port with --listen \"\" (no peer network)")
		}
	}
	if !cfg.IsValidator() && len(p.Listen) == 0 && len(p.Bootstrap) == 0 && !p.MDNS && p.Port == 0 {
		return usagef("a volunteer needs peers: give --bootstrap MULTIADDR (a node of the network, /ip4/…/tcp/26656/p2p/ID), --mdns or --listen")
	}
	return nil
}

func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// showSync draws a progress bar on the terminal while the node is behind
// its peers (the logs carry the same as "sync progress" lines).
func showSync(ctx context.Context, n *node.Node, w io.Writer) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	var bar *progressbar.ProgressBar
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := n.SyncProgress()
		switch {
		case s.Target > s.Height+1 && bar == nil:
			bar = progressbar.NewOptions64(int64(s.Target), progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("sync"),
				progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(500*time.Millisecond))
		case bar != nil && s.Target <= s.Height:
			bar.Finish()
			fmt.Fprintf(w, "\nin sync at height %d\n", s.Height)
			bar = nil
			continue
		}
		if bar != nil {
			bar.ChangeMax64(int64(s.Target))
			bar.Describe(fmt.Sprintf("sync %d blocks/s %d casts/s", int(s.BlocksPerSec), int(s.TxsPerSec)))
			bar.Set64(int64(s.Height))
		}
	}
}
