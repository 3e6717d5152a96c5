package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
	"github.com/cocorico/node/store"
	"github.com/cocorico/node/throttle"
)

// Config configures the application.
type Config struct {
	Genesis *consensus.Genesis
	// Ledger is the node's open ledger; the app is its only writer.
	Ledger *store.Ledger
	// MempoolTxs and MempoolBytes bound the mempool.
	MempoolTxs, MempoolBytes int
	// AdmitPending is the backpressure on clients: while this many
	// transactions are pending, SubmitFromClient refuses new ones
	// (ballot.ErrOverloaded) before checking them; gossip still fills the
	// mempool up to its bound. Default: MempoolTxs.
	AdmitPending int
	// Verifiers are the slots in which the signatures of transactions from
	// clients and peers are checked; the apps of one process share one.
	// Default: NewVerifiers(0), one slot per core for this app alone.
	Verifiers *Verifiers
	// Metrics default to NopMetrics; Logger to slog.Default; Clock to
	// time.Now.
	Metrics *Metrics
	Logger  *slog.Logger
	Clock   func() time.Time
	// Reason names a refusal in the metrics (the API's error code, so that
	// a metric and an answer say the same); default: "refused".
	Reason func(error) string
	// AfterApply, if set, is called with every final block once the
	// ledger and the state hold it, before the next one is applied (where
	// the node takes its state snapshots).
	AfterApply func(b *consensus.Block)
}

func (c *Config) defaults() error {
	if c.Genesis == nil || c.Ledger == nil {
		return fmt.Errorf("app: a genesis and a ledger are needed")
	}
	if c.MempoolTxs <= 0 || c.MempoolBytes <= 0 {
		return fmt.Errorf("app: mempool bounds %d txs, %d bytes", c.MempoolTxs, c.MempoolBytes)
	}
	if c.AdmitPending <= 0 {
		c.AdmitPending = c.MempoolTxs
	}
	if c.Verifiers == nil {
		c.Verifiers = NewVerifiers(0)
	}
	if c.Metrics == nil {
		c.Metrics = NopMetrics()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Reason == nil {
		c.Reason = func(error) string { return "refused" }
	}
	return nil
}

var _ driver.Application = (*App)(nil)

// App is the ballot application as the consensus engine sees it (the ABCI
// boundary of CometBFT): it checks transactions into the mempool, builds
// and validates proposed blocks, and applies final blocks to the ledger.
// Proposals and final blocks arrive from one goroutine (the consensus
// driver or the block follower); Submit is called from many.
type App struct {
	genesis *consensus.Genesis
	rules   ballot.Rules
	vals    *consensus.ValidatorSet
	ledger  *store.Ledger
	state   *ballot.KVState
	pool    *Mempool
	metrics *Metrics
	logger  *slog.Logger
	clock   func() time.Time
	reason  func(error) string
	after   func(b *consensus.Block)
	admit   int
	// verifiers bound the signature checks of Submit (not of blocks).
	verifiers *Verifiers
	checks    checkQueue // the transactions waiting for a verifier slot
	// checking counts the transactions inside SubmitMany (decoded,
	// waiting for a verifier slot or being checked): pending work that
	// the mempool does not hold yet, which SubmitFromClient counts too.
	checking atomic.Int64
	counts   *countCache // sealed counts, kept across rounds

	// applying makes a final block's state and the mempool's update after
	// it one step for SubmitMany, which adds to the mempool under its read
	// side: a cast checked against the state before a block that made it
	// stale (a later seq of its key final) would otherwise enter the
	// mempool after the update meant to drop it, and stay there.
	// appliedN counts the blocks applied (guarded by applying).
	applying sync.RWMutex
	appliedN uint64
	// afterPrecheck, if set (tests), runs in SubmitMany once the cheap
	// rules are checked, before the signatures.
	afterPrecheck func()
	// checkedBatch, if set (tests), is told each batch of the check queue
	// once checked (in a verifier slot).
	checkedBatch func(txs []*ballot.Tx)

	// mu guards the tip: its height, hash, time and the app hash after it
	// change together, once the ledger holds the block and the state
	// remembers it. The ledger's own height moves first (Commit), so a
	// reader of the tip takes it here, never from the ledger: in between,
	// the ledger's height with this tip's hash would name two blocks.
	mu        sync.RWMutex
	tipHeight uint64         // height of the last final block applied; 0 before block 1
	tipHash   consensus.Hash // hash of the last final block; the genesis hash before block 1
	tipTime   int64          // its time (Unix ms)
	appHash   consensus.Hash // results after the last final block
	validated map[consensus.Hash]*validBlock
	// proposedTxs are the transactions of blocks validated at this height
	// that were not in the mempool: gossip often brings them after the
	// proposal did, and they are not verified a second time.
	proposedTxs map[consensus.Hash]*ballot.Checked
	// preverified are the transactions of fetched blocks not yet applied
	// that VerifyFetched checked; ApplyBlock drops those it applies.
	preverified map[consensus.Hash]*ballot.Checked

	finalMu   sync.Mutex
	finalSubs []chan<- uint64
	applied   chan struct{} // closed, and replaced, at every final block
}

// validBlock is a block that passed ValidateBlock, with the update it
// makes, so that applying it verifies nothing a second time.
type validBlock struct {
	update *ballot.Update
	ids    []consensus.Hash
}

// New returns the application over an open ledger, with an empty mempool.
func New(cfg Config) (*App, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	g, ledger, m := cfg.Genesis, cfg.Ledger, cfg.Metrics
	rules := ballot.NewRules(g)
	state, err := ballot.NewStoredKVState(rules, ledger, putState(ledger), ledger.Height())
	if err != nil {
		return nil, fmt.Errorf("ballot state: %w", err)
	}
	a := &App{
		genesis:     g,
		rules:       rules,
		vals:        g.ValidatorSet(),
		ledger:      ledger,
		state:       state,
		pool:        NewMempool(cfg.MempoolTxs, cfg.MempoolBytes, g.App.RevoteIntervalMs > 0),
		metrics:     m,
		logger:      cfg.Logger,
		clock:       cfg.Clock,
		reason:      cfg.Reason,
		after:       cfg.AfterApply,
		admit:       cfg.AdmitPending,
		verifiers:   cfg.Verifiers,
		counts:      newCountCache(),
		validated:   map[consensus.Hash]*validBlock{},
		proposedTxs: map[consensus.Hash]*ballot.Checked{},
		preverified: map[consensus.Hash]*ballot.Checked{},
		applied:     make(chan struct{}),
	}
	a.checks.suspects = throttle.NewLRU[string, struct{}](suspectsKept)
	a.tipHash, a.tipTime = g.Hash(), g.GenesisTime.UnixMilli()
	if h := ledger.Height(); h > 0 {
		hdr, err := ledger.Header(h)
		if err != nil {
			return nil, err
		}
		a.tipHeight, a.tipHash, a.tipTime = h, hdr.Hash(), hdr.Time
	}
	a.appHash = state.AppHash()
	m.Height.Set(float64(ledger.Height()))
	return a, nil
}

// Restored takes in a ledger just filled from a snapshot (at its height,
// with no block applied by this app yet): the state is read again and
// must hash to appHash, the app hash the validators signed for it.
func (a *App) Restored(appHash consensus.Hash) error {
	h := a.ledger.Height()
	hdr, err := a.ledger.Header(h)
	if err != nil {
		return err
	}
	if err := a.state.Reload(h); err != nil {
		return fmt.Errorf("restored state: %w", err)
	}
	if got := a.state.AppHash(); got != appHash {
		return fmt.Errorf("restored state at height %d hashes to %s, the validators signed %s", h, got.Short(), appHash.Short())
	}
	a.mu.Lock()
	a.tipHeight, a.tipHash, a.tipTime, a.appHash = h, hdr.Hash(), hdr.Time, appHash
	clear(a.validated)
	clear(a.proposedTxs)
	a.mu.Unlock()
	a.metrics.Height.Set(float64(h))
	a.notifyFinal(h)
	return nil
}

// State returns the ballot state the app maintains.
func (a *App) State() *ballot.KVState { return a.state }

// Rules returns the chain's ballot rules.
func (a *App) Rules() ballot.Rules { return a.rules }

// Mempool returns the app's mempool.
func (a *App) Mempool() *Mempool { return a.pool }

// Metrics returns the app's metrics.
func (a *App) Metrics() *Metrics { return a.metrics }

// Tip returns the last final height, block hash and time (Unix ms): the
// block this app applied last, read together.
func (a *App) Tip() (uint64, consensus.Hash, int64) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.tipHeight, a.tipHash, a.tipTime
}

// AppHash returns the app hash of the results after the last final block
// (the one the next header carries).
func (a *App) AppHash() consensus.Hash {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.appHash
}

// After returns the height and hash of the last final block this app
// applied and the app hash it computed after it, read together.
func (a *App) After() (height uint64, block, appHash consensus.Hash) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.tipHeight, a.tipHash, a.appHash
}

// Pending returns how many transactions wait in the mempool.
func (a *App) Pending() int { return a.pool.Len() }

// TxsAvailable is signalled when the mempool gains a transaction.
func (a *App) TxsAvailable() <-chan struct{} { return a.pool.Available() }

// SubscribeFinal sends every new final height to ch (without blocking:
// a slow subscriber misses heights, not the chain).
func (a *App) SubscribeFinal(ch chan<- uint64) {
	a.finalMu.Lock()
	defer a.finalMu.Unlock()
	a.finalSubs = append(a.finalSubs, ch)
}

// WaitApplied returns once the block at height h is final on this node
// (applied and synced), or with ctx's error.
func (a *App) WaitApplied(ctx context.Context, h uint64) error {
	for {
		a.finalMu.Lock()
		applied := a.applied // read before the height: a block applied in between closes it
		a.finalMu.Unlock()
		if height, _, _ := a.Tip(); height >= h {
			return nil
		}
		select {
		case <-applied:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (a *App) notifyFinal(h uint64) {
	a.finalMu.Lock()
	defer a.finalMu.Unlock()
	close(a.applied)
	a.applied = make(chan struct{})
	for _, ch := range a.finalSubs {
		select {
		case ch <- h:
		default:
		}
	}
}
