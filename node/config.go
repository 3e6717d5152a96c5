package node

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
	"github.com/cocorico/node/node/app"
	"github.com/cocorico/node/store"
)

// Home is a node's folder (docs/OPERATIONS.md §Home):
//
//	node.key           the node's Ed25519 key: its libp2p identity and, if
//	                   the genesis names it, its validator key (mode 0600)
//	genesis.json       the chain's genesis
//	config.json        addresses and peers (flags override it)
//	data/ledger/       the Pebble ledger
//	data/consensus/    the validator's write-ahead of its signed votes
type Home string

// Paths in a home.
func (h Home) KeyPath() string      { return filepath.Join(string(h), "node.key") }
func (h Home) GenesisPath() string  { return filepath.Join(string(h), "genesis.json") }
func (h Home) ConfigPath() string   { return filepath.Join(string(h), "config.json") }
func (h Home) LedgerDir() string    { return filepath.Join(string(h), "data", "ledger") }
func (h Home) ConsensusDir() string { return filepath.Join(string(h), "data", "consensus") }

// consensusStatePath is a validator's consensus state file (the
// driver.FileStorage of ConsensusDir), named in the start-up refusals.
func (h Home) consensusStatePath() string {
	return filepath.Join(h.ConsensusDir(), "consensus_state.json")
}
func (h Home) SnapshotsDir() string { return filepath.Join(string(h), "data", "snapshots") }

// ReverifyDir is the scratch ledger of a node's re-verification after a
// state sync (app.Reverify): made when it starts, removed when it ends.
func (h Home) ReverifyDir() string { return filepath.Join(string(h), "data", "reverify") }

// RecountDir is the scratch ledger of `cocorico recount --on-disk`.
func (h Home) RecountDir() string { return filepath.Join(string(h), "data", "recount") }

// FileConfig is config.json: what `cocorico testnet` writes for each node.
type FileConfig struct {
	Name      string   `json:"name,omitempty"`
	API       string   `json:"api,omitempty"`
	Listen    []string `json:"listen,omitempty"`
	Bootstrap []string `json:"bootstrap,omitempty"`
	MDNS      *bool    `json:"mdns,omitempty"`
}

// maxFileConfigBytes bounds config.json.
const maxFileConfigBytes = 1 << 20

// ReadFileConfig reads config.json; a missing file is an empty config. It
// is read strictly (docs/PROTOCOL.md §1): an unset field is left out.
func (h Home) ReadFileConfig() (FileConfig, error) {
	var fc FileConfig
	data, err := os.ReadFile(h.ConfigPath())
	if errors.Is(err, fs.ErrNotExist) {
		return fc, nil
	}
	if err != nil {
		return fc, err
	}
	if err := canon.DecodeJSON(data, &fc, maxFileConfigBytes); err != nil {
		return fc, fmt.Errorf("%s: %w", h.ConfigPath(), err)
	}
	return fc, nil
}

// WriteFileConfig writes config.json.
func (h Home) WriteFileConfig(fc FileConfig) error {
	data, err := json.MarshalIndent(fc, "", "  ")
	if err != nil {
		return err
	}
	return client.WriteFileAtomic(h.ConfigPath(), append(data, '\n'), 0o644)
}

// ReadGenesis reads the genesis at path.
func ReadGenesis(path string) (*consensus.Genesis, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := consensus.ParseGenesis(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Config configures a node. Fill it, then New validates it.
type Config struct {
	// Home is the node's folder; the ledger and consensus state live in it.
	Home Home
	// Genesis is the chain's genesis.
	Genesis *consensus.Genesis
	// Key is the node key. The node is a validator when the genesis names it.
	Key ed25519.PrivateKey
	// Name is a label for logs (e.g. validator-0).
	Name string
	// APIAddr is where the HTTP API listens (host:port; port 0 picks one).
	// Empty: no API.
	APIAddr string
	// P2P configures the peer network.
	P2P P2PConfig
	// MempoolTxs and MempoolBytes bound the mempool; defaults 200,000 and 128 MiB.
	MempoolTxs   int
	MempoolBytes int
	// AdmitPending is the backpressure on clients: while this many
	// transactions are pending, the node answers new casts from its API
	// 503 overloaded before checking them (clients send again later);
	// gossip still fills the mempool up to MempoolTxs. It bounds the
	// queue, hence the cast-to-final latency, to a few blocks' worth.
	// Default: 2 × max_block_txs (a block being decided and the next one
	// ready). Measured with four validators against 4× and 1×: 2×
	// finalised as many casts per second as 4× with half the latency and
	// ~150 MB less memory; 1× left proposals short (-8 %).
	AdmitPending int
	// Verifiers are the slots in which the node checks the signatures of
	// casts from clients and peers (app.Verifiers): the nodes of one
	// process share one, as the devnet's validators do. Default: one slot
	// per core for this node alone.
	Verifiers *app.Verifiers
	// Ledger tunes the Pebble ledger.
	Ledger store.Options
	// Logger receives structured logs; default slog.Default().
	Logger *slog.Logger
	// Clock is the node's clock; default time.Now.
	Clock func() time.Time
	// Version is reported in /v1/status and metrics.
	Version string
	// MaxDiskBytes stops a volunteer from following the chain while its
	// ledger is larger; 0: no limit.
	MaxDiskBytes int64
	// Pprof serves Go's profiles on the API under /debug/pprof/.
	Pprof bool
	// ClientIPHeader, if set, is the header a trusted reverse proxy in
	// front of the API puts the client's address in: the address whose
	// refused transactions are throttled (api.RefusalLimits).
	ClientIPHeader string
	// UnsafeResetConsensusState lets a validator start without a
	// trustworthy consensus state (missing, or older than its ledger
	// shows): it then signs nothing until the network has passed the
	// heights it may have signed (docs/OPERATIONS.md §Start-up checks).
	UnsafeResetConsensusState bool
	// RefillTimeout bounds the wait for peers to give back final blocks
	// missing from the ledger at start; default 2 minutes.
	RefillTimeout time.Duration
	// Snapshots configures the state snapshots the node takes and serves
	// to nodes joining by state sync (docs/PROTOCOL.md §21).
	Snapshots SnapshotConfig
	// FullVerify makes a volunteer with an empty ledger replay every block
	// from genesis instead of joining from a peer's snapshot.
	FullVerify bool
	// StateSyncWait is how long a volunteer with an empty ledger looks for
	// a snapshot before it replays from genesis; default 20 s.
	StateSyncWait time.Duration
}

// SnapshotConfig configures state snapshots.
type SnapshotConfig struct {
	// Interval: a snapshot after every block whose height is a multiple
	// of it; default 1,000; negative: none taken or served.
	Interval int64
	// Keep is how many snapshots are kept; default 2.
	Keep int
	// MaxBytes bounds their size on disk (hard links counted in full);
	// default 20 GiB.
	MaxBytes int64
	// ChunkBits: chunks of 2^ChunkBits leaves; default
	// ballot.SnapshotChunkBits (12), at least 4, at most 16.
	ChunkBits uint8
	// TestCorruptChunks is fault injection for tests: the node serves
	// every chunk with a byte changed (its peers must find out).
	TestCorruptChunks bool
}

// P2PConfig configures the peer network.
type P2PConfig struct {
	// Listen are the multiaddrs to listen on; empty: DefaultListen when
	// the node has peers to find, else no peer network (a lone validator).
	Listen []string
	// Bootstrap are multiaddrs (with /p2p/ id) of peers to dial at start.
	Bootstrap []string
	// MDNS finds peers on the local network.
	MDNS bool
	// Port is the port of the default listen addresses (TCP and QUIC on
	// every interface, DefaultListen), taken when Listen is empty and the
	// node has peers to find (Bootstrap, MDNS) or a Port; default
	// DefaultP2PPort. Port and Listen together are an error.
	Port int
	// MaxPeers bounds connections (the connection manager's high water).
	MaxPeers int
	// MaxSyncBytesPerSec caps the transactions fetched by block sync per
	// second (a volunteer's bandwidth); 0: no cap.
	MaxSyncBytesPerSec int64
	// RegossipAfter is how long a transaction waits in the mempool before
	// the node gossips it again (and again after as long); default 30 s.
	RegossipAfter time.Duration
}

func (c *Config) validate() error {
	if c.Home == "" {
		return errors.New("node: no home folder")
	}
	if c.Genesis == nil {
		return errors.New("node: no genesis")
	}
	if err := c.Genesis.Validate(); err != nil {
		return err
	}
	if len(c.Key) != ed25519.PrivateKeySize {
		return errors.New("node: no node key")
	}
	if c.MempoolTxs == 0 {
		c.MempoolTxs = 200_000
	}
	if c.MempoolBytes == 0 {
		c.MempoolBytes = 128 << 20
	}
	if c.P2P.RegossipAfter == 0 {
		c.P2P.RegossipAfter = 30 * time.Second
	}
	if c.AdmitPending == 0 {
		c.AdmitPending = min(2*c.Genesis.Params.MaxBlockTxs, c.MempoolTxs)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.RefillTimeout == 0 {
		c.RefillTimeout = 2 * time.Minute
	}
	if c.StateSyncWait == 0 {
		c.StateSyncWait = 20 * time.Second
	}
	if c.Snapshots.Interval == 0 {
		c.Snapshots.Interval = 1000
	}
	if c.Snapshots.ChunkBits == 0 {
		c.Snapshots.ChunkBits = ballot.SnapshotChunkBits
	}
	if c.Snapshots.ChunkBits < 4 || c.Snapshots.ChunkBits > 16 {
		return fmt.Errorf("node: snapshot chunks of 2^%d leaves: want 2^4 to 2^16", c.Snapshots.ChunkBits)
	}
	if c.Snapshots.Keep <= 0 {
		c.Snapshots.Keep = 2
	}
	if c.Snapshots.MaxBytes <= 0 {
		c.Snapshots.MaxBytes = 20 << 30
	}
	if c.P2P.MaxPeers == 0 {
		c.P2P.MaxPeers = 64
	}
	return c.resolveNetwork()
}
