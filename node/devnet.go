package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node/app"
	"github.com/cocorico/node/store"
)

// DevnetConfig configures a devnet: the whole system in one process.
type DevnetConfig struct {
	// Dir holds the devnet; an existing devnet there is resumed.
	Dir string
	// Validators is the number of validators (each its own ledger and, with
	// more than one, its own libp2p host on loopback).
	Validators int
	// Volunteers is the number of volunteer nodes (full nodes that
	// re-verify and attest every block); they come after the validators
	// in Nodes, named volunteer-i.
	Volunteers int
	// APIPort is the first validator's API port; validator i gets APIPort+i
	// and the registrar APIPort+50. 0 picks free ports.
	APIPort int
	// Voters is the size of the generated demo roll.
	Voters int
	// ChainID names the chain; default "devnet".
	ChainID string
	Logger  *slog.Logger
	Version string
	// Pprof serves Go's profiles on every node's API.
	Pprof bool
	// App are the chain's ballot rules; zero: consensus.DefaultAppParams
	// (the devnet's organizer is added to them).
	App consensus.AppParams
	// SnapshotInterval is every node's state-snapshot interval (Config.Snapshots); 0: the default.
	SnapshotInterval int64
	// SnapshotChunkBits is every node's Config.Snapshots.ChunkBits; 0: the default.
	SnapshotChunkBits uint8
	// CacheBytes is the one Pebble block cache all the devnet's ledgers
	// share (store.Options.Cache); default DevnetCacheBytes.
	CacheBytes int64
	// MemTableBytes is each ledger's memtable (store.Options.MemTableBytes);
	// default DevnetMemTableBytes.
	MemTableBytes uint64
}

// The devnet's Pebble memory: its nodes run in one process, so they share
// one block cache (one bound for the process) instead of one each. Its
// default is what four nodes' own caches made. Measured before the state
// kept its voter filter (ballot/voterfilter.go), when each cast's voter
// record miss was answered by the tables' filter and index blocks: at
// 200,000 casts with 256 MiB shared, reading them again from the files
// was 14 % of the devnet's CPU at 30,000 casts and 44 % near the end
// (store.Ledger.Get 23 % and 56 %); with 512 MiB, 3 % and Get 10 % at
// 30,000. With the voter filter, and the tables' blocks of 32 KiB
// (store's ledgerPebbleOptions), 512 MiB let the cache grow to 83-91 MB
// at 1,000,000 casts for nothing: 64 MiB gave the same share of what the
// cores gave (0.10 final casts/s of it, 62.9 against 61.4 µs of CPU a
// node a cast besides verifying) and a peak RSS of 544 MB against 627
// (docs/OPERATIONS.md §Ledger).
//
// Each ledger's memtable is 16 MiB, not a node's 32 (store.Options): four
// of them, and the one Pebble keeps of each for reuse, were the largest
// part of the devnet's memory once the records lists' leaves moved to
// the ledgers (256 MB of ~700 at 1,000,000 casts). With 16 MiB the
// devnet's peak RSS at 1,000,000 casts was 564-628 MB against 688-738 MB
// in five runs over two builds, its final casts/s the same share of what
// the machine's cores gave in each pair, 0.09-0.13 (docs/OPERATIONS.md
// §Ledger).
const (
	DevnetCacheBytes    = 64 << 20
	DevnetMemTableBytes = 16 << 20
)

// DevnetInfo is devnet.json (docs/CONTRACT.md).
type DevnetInfo struct {
	ChainID   string           `json:"chain_id"`
	Nodes     []DevnetNodeInfo `json:"nodes"`
	Registrar string           `json:"registrar"`
	Ballot    consensus.Hash   `json:"ballot"`
	Voters    string           `json:"voters"`
	Genesis   string           `json:"genesis"`
	// RegistrarTokenFile holds the registrar's admin token (mode 0600),
	// for `ballot create --registrar-token-file`.
	RegistrarTokenFile string `json:"registrar_token_file"`
}

// DevnetNodeInfo is one node in devnet.json.
type DevnetNodeInfo struct {
	Name string `json:"name"`
	API  string `json:"api"`
	P2P  string `json:"p2p"`
	Home string `json:"home"`
}

// Devnet is a running devnet.
type Devnet struct {
	cfg       DevnetConfig
	previous  map[int]string
	Nodes     []*Node
	Registrar *Registrar
	Info      DevnetInfo
	// adminToken turns the registrar's admin endpoint on, for the demo
	// ballot and the developer's own.
	adminToken string
}

func (c *DevnetConfig) defaults() {
	if c.Validators == 0 {
		c.Validators = 4
	}
	if c.Voters == 0 {
		c.Voters = 1000
	}
	if c.ChainID == "" {
		c.ChainID = "devnet"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DevnetCacheBytes
	}
	if c.MemTableBytes == 0 {
		c.MemTableBytes = DevnetMemTableBytes
	}
	if c.App.MaxCastsPerVoter == 0 {
		interval := c.App.RevoteIntervalMs
		c.App = consensus.DefaultAppParams()
		if interval != 0 {
			c.App.RevoteIntervalMs = interval
		}
	}
}

// NewDevnet makes (or, if Dir holds one, reopens) a devnet: keys, genesis,
// homes, the demo roll; then opens every node and the registrar.
func NewDevnet(cfg DevnetConfig) (*Devnet, error) {
	cfg.defaults()
	if cfg.Validators < 1 || cfg.Validators > 16 {
		return nil, fmt.Errorf("devnet: %d validators, want 1 to 16", cfg.Validators)
	}
	if cfg.Volunteers < 0 || cfg.Volunteers > 16 {
		return nil, fmt.Errorf("devnet: %d volunteers, want 0 to 16", cfg.Volunteers)
	}
	d := &Devnet{cfg: cfg}
	gpath := filepath.Join(cfg.Dir, "genesis.json")
	g, err := ReadGenesis(gpath)
	if errors.Is(err, fs.ErrNotExist) {
		g, err = d.create(gpath)
	}
	if err != nil {
		return nil, err
	}
	if len(g.Validators) != cfg.Validators {
		return nil, fmt.Errorf("devnet in %s has %d validators, not %d", cfg.Dir, len(g.Validators), cfg.Validators)
	}
	d.Info = DevnetInfo{ChainID: g.ChainID, Voters: filepath.Join(cfg.Dir, "voters.csv"), Genesis: gpath}
	d.loadPrevious()
	if err := d.open(g); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Devnet) home(i int) Home {
	return Home(filepath.Join(d.cfg.Dir, fmt.Sprintf("validator-%d", i)))
}

// create writes keys, genesis and the demo roll.
func (d *Devnet) create(gpath string) (*consensus.Genesis, error) {
	homes := make([]Home, d.cfg.Validators)
	for i := range homes {
		homes[i] = d.home(i)
	}
	g, err := NewGenesis(ChainSpec{ChainID: d.cfg.ChainID, Validators: homes, App: d.cfg.App,
		OrganizerKey: filepath.Join(d.cfg.Dir, "organizer.key")})
	if err != nil {
		return nil, err
	}
	var roll strings.Builder
	roll.WriteString("voter_id,code\n")
	for i := 1; i <= d.cfg.Voters; i++ {
		fmt.Fprintf(&roll, "voter-%04d,%s\n", i, demoCode())
	}
	if err := client.WriteFileAtomic(filepath.Join(d.cfg.Dir, "voters.csv"), []byte(roll.String()), 0o600); err != nil {
		return nil, err
	}
	for i := range d.cfg.Validators {
		if err := client.WriteFileAtomic(d.home(i).GenesisPath(), g.JSON(), 0o644); err != nil {
			return nil, err
		}
	}
	return g, client.WriteFileAtomic(gpath, g.JSON(), 0o644)
}

func demoCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 8)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// port returns the address of a devnet part: APIPort+offset, or with
// APIPort 0 the address it had when the devnet last ran (the registrar's
// URL is written into the demo ballot, so it must not move), or a free one.
func (d *Devnet) port(offset int) string {
	if d.cfg.APIPort == 0 {
		if a, ok := d.previous[offset]; ok {
			return a
		}
		return "127.0.0.1:0"
	}
	return fmt.Sprintf("127.0.0.1:%d", d.cfg.APIPort+offset)
}

// loadPrevious reads the addresses of the devnet's last run.
func (d *Devnet) loadPrevious() {
	d.previous = map[int]string{}
	data, err := os.ReadFile(filepath.Join(d.cfg.Dir, "devnet.json"))
	if err != nil {
		return
	}
	var info DevnetInfo
	if json.Unmarshal(data, &info) != nil {
		return
	}
	for i, n := range info.Nodes {
		d.previous[i] = strings.TrimPrefix(n.API, "http://")
	}
	d.previous[50] = strings.TrimPrefix(info.Registrar, "http://")
}

func (d *Devnet) open(g *consensus.Genesis) error {
	// The nodes share the machine's cores, so their signature checks
	// share one set of slots, one per core (app.Verifiers).
	verifiers := app.NewVerifiers(0)
	// Each ledger takes its own reference on the cache; the devnet's goes
	// once they are open.
	cache := store.NewCache(d.cfg.CacheBytes)
	defer cache.Close()
	for i := range d.cfg.Validators + d.cfg.Volunteers {
		h, name := d.home(i), fmt.Sprintf("validator-%d", i)
		var k ed25519.PrivateKey
		var err error
		if i < d.cfg.Validators {
			k, err = LoadKey(h.KeyPath())
		} else {
			name = fmt.Sprintf("volunteer-%d", i-d.cfg.Validators)
			h = Home(filepath.Join(d.cfg.Dir, name))
			if err = os.MkdirAll(string(h), 0o700); err == nil {
				k, _, err = LoadOrCreateKey(h.KeyPath())
			}
		}
		if err != nil {
			return err
		}
		cfg := Config{Home: h, Genesis: g, Key: k, Name: name, APIAddr: d.port(i), Verifiers: verifiers,
			Logger: d.cfg.Logger, Version: d.cfg.Version, Pprof: d.cfg.Pprof, Snapshots: SnapshotConfig{Interval: d.cfg.SnapshotInterval, ChunkBits: d.cfg.SnapshotChunkBits},
			Ledger: store.Options{Cache: cache, MemTableBytes: d.cfg.MemTableBytes}}
		// Every devnet node listens on loopback, so that a volunteer can
		// join it (cocorico init, then node --bootstrap with its address).
		cfg.P2P = P2PConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}
		n, err := New(cfg)
		if err != nil {
			return err
		}
		d.Nodes = append(d.Nodes, n)
		d.Info.Nodes = append(d.Info.Nodes, DevnetNodeInfo{Name: cfg.Name, API: n.APIURL(), P2P: n.P2PAddr(), Home: string(h)})
	}
	d.connectPeers()
	d.Info.RegistrarTokenFile = filepath.Join(d.cfg.Dir, "registrar-admin.token")
	tok, err := loadOrCreateToken(d.Info.RegistrarTokenFile)
	if err != nil {
		return err
	}
	d.adminToken = tok
	r, err := NewRegistrar(RegistrarConfig{Home: filepath.Join(d.cfg.Dir, "registrar"), Listen: d.port(50),
		NodeURL: d.Nodes[0].APIURL(), Roll: d.Info.Voters, HashParams: registrar.DemoHashParams, AdminToken: tok, Logger: d.cfg.Logger})
	if err != nil {
		return err
	}
	d.Registrar = r
	d.Info.Registrar = r.URL()
	return nil
}

// Close releases a devnet that will not Run.
func (d *Devnet) Close() {
	for _, n := range d.Nodes {
		n.Close()
	}
}

// Run runs every node and the registrar; once the chain moves it makes
// the demo ballot (if the devnet has none yet) and writes devnet.json.
// ready, if not nil, is called with the info once it is written.
func (d *Devnet) Run(ctx context.Context, ready func(DevnetInfo)) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, n := range d.Nodes {
		g.Go(func() error { return n.Run(ctx) })
	}
	g.Go(func() error { return d.Registrar.Run(ctx) })
	g.Go(func() error {
		if err := d.demoBallot(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("demo ballot: %w", err)
		}
		data, err := json.MarshalIndent(d.Info, "", "  ")
		if err != nil {
			return err
		}
		if err := client.WriteFileAtomic(filepath.Join(d.cfg.Dir, "devnet.json"), append(data, '\n'), 0o644); err != nil {
			return err
		}
		if ready != nil {
			ready(d.Info)
		}
		return nil
	})
	return g.Wait()
}

// demoBallot finds the devnet's ballot or creates it through the same
// client path as `cocorico ballot create`.
func (d *Devnet) demoBallot(ctx context.Context) error {
	n := client.NewNode(d.Nodes[0].APIURL())
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if first, err := n.BallotPage(ctx, 1, 1); err == nil && len(first.Ballots) > 0 {
		d.Info.Ballot = first.Ballots[0].BallotID // the first ballot of the chain
		return nil
	}
	org, _, err := LoadOrCreateKey(filepath.Join(d.cfg.Dir, "organizer.key"))
	if err != nil {
		return err
	}
	k, err := client.NewRegistrar(d.Registrar.URL(), d.adminToken).NewKey(ctx, ballot.KeyBits2048)
	if err != nil {
		return err
	}
	now := time.Now()
	g := d.Nodes[0].cfg.Genesis
	def := &ballot.Definition{
		ChainID:     d.Info.ChainID,
		GenesisHash: g.Hash(),
		Question:    "Demo referendum: should this devnet keep running?",
		Choices:     []string{"for", "against", "abstention"},
		Opens:       now.UnixMilli(),
		Closes:      now.Add(7 * 24 * time.Hour).UnixMilli(),
		Registrars:  []ballot.Registrar{{Name: "Devnet registrar", URL: d.Registrar.URL(), Key: k.PublicKey}},
		Revote:      true,
	}
	def.Sign(org)
	id, err := n.SubmitDefinition(ctx, def)
	if err != nil {
		return err
	}
	for {
		if _, _, err := n.Ballot(ctx, id); err == nil {
			d.Info.Ballot = id
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// loadOrCreateToken reads the secret in path, or writes a fresh random
// one there (mode 0600) if the file does not exist.
func loadOrCreateToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(data)); tok != "" {
			return tok, nil
		}
		return "", fmt.Errorf("%s is empty", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	return tok, client.WriteFileAtomic(path, []byte(tok+"\n"), 0o600)
}

// connectPeers dials every devnet node from every other, so that the
// devnet needs no discovery.
func (d *Devnet) connectPeers() {
	if len(d.Nodes) < 2 {
		return
	}
	for i, a := range d.Nodes {
		for _, b := range d.Nodes[i+1:] {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := a.net.host.Connect(ctx, b.P2PAddr()); err != nil {
				d.cfg.Logger.Warn("devnet peers not connected", "err", err)
			}
			cancel()
		}
	}
}
