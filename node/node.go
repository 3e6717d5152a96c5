package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
	"github.com/cocorico/node/node/app"
	"github.com/cocorico/node/store"
)

// Roles of a node.
const (
	RoleValidator = "validator"
	RoleVolunteer = "volunteer"
)

var _ api.Backend = (*Node)(nil)

// Node is one running node.
type Node struct {
	cfg     Config
	role    string
	index   uint16 // validator index when a validator
	ledger  *store.Ledger
	snaps   *store.Snapshots // nil when the node takes none
	pool    *app.Mempool
	app     *app.App
	reg     *prometheus.Registry
	metrics *Metrics
	api     *api.Server
	apiLn   net.Listener
	logger  *slog.Logger
	fin     *finality
	net     *peerNetwork // nil without a peer network
	witness *witnessBook // attestations and alarms seen
	// claimLog spaces the log lines of peers' alarms of blocks final here.
	claimLog rate.Sometimes
}

// New opens the node's ledger and binds its API listener; Run starts it.
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, role: RoleVolunteer, logger: cfg.Logger.With("node", cfg.Name), claimLog: rate.Sometimes{Interval: claimLogEvery}}
	if i, ok := cfg.Genesis.ValidatorSet().IndexOf(cfg.Key.Public().(ed25519.PublicKey)); ok {
		n.role, n.index = RoleValidator, i
	}
	for _, dir := range []string{cfg.Home.LedgerDir(), cfg.Home.ConsensusDir()} {
		if err := (driver.OSFS{}).MkdirAll(dir); err != nil { // each new folder's entry synced
			return nil, err
		}
	}
	if cfg.Ledger.Logger == nil {
		cfg.Ledger.Logger = n.logger
	}
	var err error
	n.ledger, err = store.Open(cfg.Home.LedgerDir(), cfg.Genesis.Hash(), cfg.Ledger)
	if errors.Is(err, store.ErrRestoreIncomplete) {
		// A state sync stopped half-way: the ledger holds part of a
		// snapshot's state and no block, nothing final. It starts afresh.
		n.logger.Warn("an interrupted state sync left a partial ledger: starting it afresh", "ledger", cfg.Home.LedgerDir())
		if err = os.RemoveAll(cfg.Home.LedgerDir()); err == nil {
			n.ledger, err = store.Open(cfg.Home.LedgerDir(), cfg.Genesis.Hash(), cfg.Ledger)
		}
	}
	if err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			err = ledgerDamaged(err)
		}
		return nil, err
	}
	if cfg.Snapshots.Interval > 0 {
		if n.snaps, err = store.OpenSnapshots(cfg.Home.SnapshotsDir(), cfg.Snapshots.Keep, cfg.Snapshots.MaxBytes, n.logger); err != nil {
			n.ledger.Close()
			return nil, fmt.Errorf("snapshots: %w", err)
		}
	}
	if err := n.readTip(); err != nil {
		n.ledger.Close()
		return nil, err
	}
	n.witness = newWitnessBook(cfg.Genesis.ValidatorSet())
	n.reg = NewRegistry()
	n.metrics = NewMetrics(n.reg, cfg.Version)
	registerLedger(n.reg, n.ledger)
	n.app, err = app.New(app.Config{Genesis: cfg.Genesis, Ledger: n.ledger, MempoolTxs: cfg.MempoolTxs, MempoolBytes: cfg.MempoolBytes,
		AdmitPending: cfg.AdmitPending, Verifiers: cfg.Verifiers, Metrics: app.NewMetrics(n.reg), Logger: n.logger, Clock: cfg.Clock, Reason: apiCode,
		AfterApply: n.takeSnapshot})
	if err != nil {
		n.closeStores()
		return nil, err
	}
	n.metrics.LedgerBase.Set(float64(n.ledger.Base()))
	n.pool = n.app.Mempool()
	n.api = api.New(api.Config{Chain: n.ledger, State: n.app.State(), Backend: n, Witnesses: n, Gatherer: n.reg, Logger: n.logger, Pprof: cfg.Pprof,
		Clock: cfg.Clock, Refusals: api.RefusalLimits{ClientIPHeader: cfg.ClientIPHeader}})
	if cfg.APIAddr != "" {
		if n.apiLn, err = listenLimited(cfg.APIAddr, cfg.ClientIPHeader); err != nil {
			n.closeStores()
			return nil, fmt.Errorf("api: %w", err)
		}
	}
	if n.fin, err = n.newFinality(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Close releases what New took, for a node that will not Run.
func (n *Node) Close() {
	if n.apiLn != nil {
		n.apiLn.Close()
	}
	if n.net != nil {
		n.net.host.Close()
	}
	n.closeStores()
}

// closeStores closes the snapshots, then the ledger.
func (n *Node) closeStores() error {
	if n.snaps != nil {
		n.snaps.Close()
	}
	return n.ledger.Close()
}

// APIURL returns the API's URL (http://host:port), or "" without an API.
func (n *Node) APIURL() string {
	if n.apiLn == nil {
		return ""
	}
	return "http://" + n.apiLn.Addr().String()
}

// Role returns validator or volunteer.
func (n *Node) Role() string { return n.role }

// Height returns the last final height.
func (n *Node) Height() uint64 { return n.ledger.Height() }

// App returns the node's application.
func (n *Node) App() *app.App { return n.app }

// listenLimited listens on addr for an HTTP API, its connections bounded
// (api.DefaultConnLimits). Behind a reverse proxy (clientIPHeader set)
// every connection comes from the proxy: no bound per address.
func listenLimited(addr, clientIPHeader string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := api.DefaultConnLimits
	if clientIPHeader != "" {
		l.PerAddress = 0
	}
	return api.LimitListener(ln, l), nil
}

// Run runs the node until ctx ends, then stops its parts in order: the
// API first (no new casts), then what makes blocks final, then the ledger.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.logger.Info("node starting", "role", n.role, "chain", n.cfg.Genesis.ChainID, "height", n.ledger.Height(), "api", n.APIURL())
	errc := make(chan error, 2)
	finDone := make(chan error, 1)
	go func() { finDone <- n.fin.Run(ctx) }()
	// The API serves once blocks may be final here: a node refilling blocks
	// its ledger lost answers nothing it might have to take back.
	var srv *api.HTTPServer
	var err error
	ready := false
	select {
	case <-ctx.Done():
	case err = <-finDone:
		finDone <- err // for the wait below
	case <-n.fin.Ready():
		ready = true
		if n.apiLn != nil {
			srv = api.NewHTTPServer("", n.api.Handler(), n.logger)
			go func() {
				if err := srv.Serve(n.apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
					errc <- fmt.Errorf("api: %w", err)
				}
			}()
		}
	}
	if ready {
		select {
		case <-ctx.Done():
		case err = <-errc:
		case err = <-finDone:
			finDone <- err // for the wait below
		}
	}
	cancel()
	if srv == nil && n.apiLn != nil {
		n.apiLn.Close()
	}
	if srv != nil {
		srv.Stop(5 * time.Second)
	}
	if eerr := <-finDone; eerr != nil && !errors.Is(eerr, context.Canceled) && err == nil {
		err = eerr
	}
	if cerr := n.closeStores(); cerr != nil && err == nil {
		err = cerr
	}
	n.logger.Info("node stopped", "height", n.ledger.Height(), "err", err)
	return err
}

// Genesis implements api.Backend.
func (n *Node) Genesis() *consensus.Genesis { return n.cfg.Genesis }

// Info implements api.Backend.
func (n *Node) Info() api.NodeInfo {
	sp := n.SyncProgress()
	info := api.NodeInfo{NodeID: n.nodeID(), Role: n.role, Peers: n.peers(), Version: n.cfg.Version, Behind: n.behind(), Mempool: n.pool.Len(),
		SyncedBlocksPerSec: sp.BlocksPerSec, SyncedCastsPerSec: sp.TxsPerSec, LedgerBase: n.ledger.Base(),
		VerifiedFrom: n.ledger.VerifiedFrom()}
	if n.snaps != nil {
		for _, s := range n.snaps.List() {
			info.Snapshots = append(info.Snapshots, s.Height)
		}
	}
	return info
}

func (n *Node) nodeID() string {
	return fmt.Sprintf("%x", n.cfg.Key.Public().(ed25519.PublicKey))
}

// Submit implements api.Backend: SubmitMany of one.
func (n *Node) Submit(ctx context.Context, tx []byte) (*ballot.Checked, error) {
	cs, errs := n.SubmitMany(ctx, [][]byte{tx})
	return cs[0], errs[0]
}

// SubmitMany implements api.Backend: the app's admission (backpressure),
// every check, the mempool, then gossip of what was accepted.
func (n *Node) SubmitMany(ctx context.Context, txs [][]byte) ([]*ballot.Checked, []error) {
	cs, errs := n.app.SubmitFromClient(ctx, txs)
	accepted := make([][]byte, 0, len(cs))
	for _, c := range cs {
		if c != nil {
			accepted = append(accepted, c.Bytes)
		}
	}
	n.gossip(accepted...)
	return cs, errs
}

// apiCode names an error as the API does: the metrics' reason label.
func apiCode(err error) string {
	_, code := api.ErrorCode(err)
	return code
}

// Admit implements api.Backend: the app's admission (backpressure).
func (n *Node) Admit() error { return n.app.Admit() }

// Pending implements api.Backend.
func (n *Node) Pending(id consensus.Hash) bool {
	_, ok := n.pool.Get(id)
	return ok
}

// PendingCasts implements api.Backend.
func (n *Node) PendingCasts(b consensus.Hash) int { return n.pool.PendingCasts(b) }

// gossip sends accepted transactions to peers (in batches, see outbox).
func (n *Node) gossip(txs ...[]byte) {
	if n.net != nil && len(txs) > 0 {
		n.net.outbox.add(txs...)
	}
}

func (n *Node) peers() int {
	if n.net == nil {
		return 0
	}
	return n.net.host.Peers()
}

func (n *Node) behind() uint64 {
	if n.net == nil {
		return 0
	}
	t, _ := n.net.host.PeerHeight()
	return max(t, n.ledger.Height()) - n.ledger.Height()
}

// P2PAddr returns the node's first libp2p address with its peer id, or "".
func (n *Node) P2PAddr() string {
	if n.net == nil {
		return ""
	}
	if a := n.net.host.Addrs(); len(a) > 0 {
		return a[0]
	}
	return ""
}
