package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
	"github.com/cocorico/node/store"
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
	// Metrics default to NopMetrics; Logger to slog.Default; Clock to
	// time.Now.
	Metrics *Metrics
	Logger  *slog.Logger
	Clock   func() time.Time
	// Reason names a refusal in the metrics (the API's error code, so that
	// a metric and an answer say the same); default: "refused".
	Reason func(error) string
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
	admit   int
	counts  *countCache // sealed counts, kept across rounds

	mu        sync.RWMutex
	tipHash   consensus.Hash // hash of the last final block; the genesis hash before block 1
	tipTime   int64          // its time (Unix ms)
	appHash   consensus.Hash // results after the last final block
	validated map[consensus.Hash]*validBlock
	// proposedTxs are the transactions of blocks validated at this height
	// that were not in the mempool: gossip often brings them after the
	// proposal did, and they are not verified a second time.
	proposedTxs map[consensus.Hash]*ballot.Checked
	// preverified are the transactions of fetched blocks not yet applied
	// that Preverify checked: [0] its last run's, [1] the one before (a
	// run is verified while the previous one is applied).
	preverified [2]map[consensus.Hash]*ballot.Checked

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
	state, err := ballot.NewKVState(rules, ledger, ledger.Height())
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
		admit:       cfg.AdmitPending,
		counts:      newCountCache(),
		validated:   map[consensus.Hash]*validBlock{},
		proposedTxs: map[consensus.Hash]*ballot.Checked{},
		preverified: [2]map[consensus.Hash]*ballot.Checked{{}, {}},
		applied:     make(chan struct{}),
	}
	a.tipHash, a.tipTime = g.Hash(), g.GenesisTime.UnixMilli()
	if h := ledger.Height(); h > 0 {
		hdr, err := ledger.Header(h)
		if err != nil {
			return nil, err
		}
		a.tipHash, a.tipTime = hdr.Hash(), hdr.Time
	}
	a.appHash = state.AppHash()
	m.Height.Set(float64(ledger.Height()))
	return a, nil
}

// State returns the ballot state the app maintains.
func (a *App) State() *ballot.KVState { return a.state }

// Rules returns the chain's ballot rules.
func (a *App) Rules() ballot.Rules { return a.rules }

// Mempool returns the app's mempool.
func (a *App) Mempool() *Mempool { return a.pool }

// Metrics returns the app's metrics.
func (a *App) Metrics() *Metrics { return a.metrics }

// Tip returns the last final height, block hash and time (Unix ms).
func (a *App) Tip() (uint64, consensus.Hash, int64) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.ledger.Height(), a.tipHash, a.tipTime
}

// AppHash returns the app hash of the results after the last final block
// (the one the next header carries).
func (a *App) AppHash() consensus.Hash {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.appHash
}

// Submit checks a transaction against every rule (stateless, then
// stateful against the last final state at the next block's time) and,
// when it passes, adds it to the mempool: SubmitMany of one.
func (a *App) Submit(ctx context.Context, tx []byte) (*ballot.Checked, error) {
	out, errs := a.SubmitMany(ctx, [][]byte{tx})
	return out[0], errs[0]
}

// SubmitFromClient is SubmitMany for transactions a client sent (not a
// peer): while Config.AdmitPending transactions wait, they are all refused
// with ballot.ErrOverloaded before any check, so that the queue, and the
// time from a cast to its finality, stay a few blocks long under any load.
func (a *App) SubmitFromClient(ctx context.Context, txs [][]byte) ([]*ballot.Checked, []error) {
	if p := a.pool.Len(); p >= a.admit {
		err := fmt.Errorf("%w: %d transactions pending, the network is behind: send again later", ballot.ErrOverloaded, p)
		a.metrics.TxsRejected.WithLabelValues(a.reason(err)).Add(float64(len(txs)))
		errs := make([]error, len(txs))
		for i := range errs {
			errs[i] = err
		}
		return make([]*ballot.Checked, len(txs)), errs
	}
	return a.SubmitMany(ctx, txs)
}

// SubmitMany is Submit for many transactions: the cheap rules first, then
// the signatures in batches on all cores, then the stateful rules and the
// mempool take them in order (so a voter's casts keep their seq order).
func (a *App) SubmitMany(ctx context.Context, txs [][]byte) ([]*ballot.Checked, []error) {
	out := make([]*ballot.Checked, len(txs))
	errs := make([]error, len(txs))
	decoded := make([]*ballot.Tx, len(txs))
	var todo []int
	for i, tx := range txs {
		if out[i], decoded[i], errs[i] = a.precheck(tx); errs[i] == nil && out[i] == nil {
			todo = append(todo, i)
		}
	}
	start := time.Now()
	checkInBatches(a.rules, todo, decoded, txs, a.state, out, errs)
	if n := countCasts(todo, decoded); n > 0 {
		per := time.Since(start).Seconds() / float64(n)
		for range n {
			a.metrics.CastVerify.Observe(per)
		}
	}
	for i, c := range out {
		if errs[i] == nil {
			if c.Cast == nil { // a cast's state was checked before its signatures
				errs[i] = a.checkState(c)
			}
			if errs[i] == nil {
				errs[i] = a.pool.Add(c)
			}
		}
		a.count(c, errs[i])
		if errs[i] != nil {
			out[i] = nil
		}
	}
	a.metrics.MempoolTxs.Set(float64(a.pool.Len()))
	return out, errs
}

func (a *App) count(c *ballot.Checked, err error) {
	if err != nil {
		a.metrics.TxsRejected.WithLabelValues(a.reason(err)).Inc()
		if errors.Is(err, ballot.ErrShareInvalid) {
			a.logger.Warn("keykeeper share refused", "err", err)
		}
		return
	}
	a.metrics.TxsAccepted.WithLabelValues(c.Kind()).Inc()
}

// precheck applies the cheap rules, before any signature is checked. It
// returns the transaction already verified if it is (in a proposal), or
// the decoded transaction whose signatures remain to be checked.
func (a *App) precheck(tx []byte) (*ballot.Checked, *ballot.Tx, error) {
	if max := a.genesis.Params.MaxTxBytes; len(tx) > max {
		return nil, nil, fmt.Errorf("%w: %d bytes, at most %d", ballot.ErrTooLarge, len(tx), max)
	}
	id := ballot.TxID(tx)
	if _, ok := a.pool.Get(id); ok {
		return nil, nil, fmt.Errorf("%w: %s is pending", ballot.ErrDuplicate, id.Short())
	}
	a.mu.RLock()
	proposed, inProposal := a.proposedTxs[id]
	a.mu.RUnlock()
	if inProposal {
		return proposed, nil, nil // verified when its block was validated
	}
	decoded, err := ballot.DecodeTx(tx, a.genesis.Params.MaxTxBytes)
	if err != nil {
		return nil, nil, err
	}
	// The cheap rules before the costly ones: a cast that is malformed,
	// for a closed ballot, or already final (its seq is not above its
	// voter key's final one: seq_replay) is refused before any signature
	// is checked. Gossip brings many such casts to a node that is behind.
	if c := decoded.Cast; c != nil {
		if err := c.CheckSyntax(); err != nil {
			return nil, nil, err
		}
		if err := a.checkState(&ballot.Checked{ID: id, Bytes: tx, Cast: c}); err != nil {
			return nil, nil, err
		}
	}
	return nil, decoded, nil
}

// checkState applies the stateful rules against the last final state at
// the next block's time.
func (a *App) checkState(c *ballot.Checked) error {
	height, _, tipTime := a.Tip()
	return ballot.NewBatch(a.state, a.rules, height+1, max(a.clock().UnixMilli(), tipTime+1)).Check(c)
}

// Pending returns how many transactions wait in the mempool.
func (a *App) Pending() int { return a.pool.Len() }

// TxsAvailable is signalled when the mempool gains a transaction.
func (a *App) TxsAvailable() <-chan struct{} { return a.pool.Available() }

// ProposeBlock builds the next block from the mempool, oldest first,
// leaving out (and dropping) what no longer passes the stateful rules.
func (a *App) ProposeBlock(ctx context.Context, height uint64, proposer uint16, t time.Time) (*consensus.Block, error) {
	tipHeight, tipHash, tipTime := a.Tip()
	if height != tipHeight+1 {
		return nil, fmt.Errorf("propose height %d on a chain at %d", height, tipHeight)
	}
	p := a.genesis.Params
	blockTime := max(t.UnixMilli(), tipTime+1)
	batch := ballot.NewBatch(a.state, a.rules, height, blockTime)
	batch.SetParallel(parallel)
	batch.SetCounts(a.counts)
	var txs [][]byte
	var ids, bad []consensus.Hash
	for _, tx := range inSeqOrder(a.pool.Reap(p.MaxBlockTxs, p.MaxBlockBytes)) {
		if err := batch.Add(tx); err != nil {
			bad = append(bad, tx.ID)
			continue
		}
		txs = append(txs, tx.Bytes)
		ids = append(ids, tx.ID)
	}
	if len(bad) > 0 {
		a.pool.Remove(bad)
		a.metrics.MempoolDropped.Add(float64(len(bad)))
	}
	update, err := batch.Finish()
	if err != nil {
		return nil, err
	}
	a.mu.RLock()
	appHash := a.appHash
	a.mu.RUnlock()
	b := &consensus.Block{
		Header: consensus.Header{
			ChainID: a.genesis.ChainID, Height: height, Time: blockTime, PrevHash: tipHash,
			TxRoot: consensus.MerkleRoot(txs), TxCount: uint32(len(txs)), AppHash: appHash, Proposer: proposer,
		},
		Txs: txs,
	}
	a.remember(b.Hash(), &validBlock{update: update, ids: ids})
	a.metrics.BlocksProposed.Inc()
	return b, nil
}

// inSeqOrder puts the casts of each voter key in seq order, each in a
// place one of them held: gossip can bring a re-vote before the cast it
// replaces, and the earlier one would otherwise be refused (its seq no
// longer above the voter key's) though it was accepted. Everything else
// keeps its arrival order.
func inSeqOrder(txs []*ballot.Checked) []*ballot.Checked {
	places := map[ballot.VoterSlot][]int{}
	for i, tx := range txs {
		if c := tx.Cast; c != nil {
			slot := ballot.VoterSlot{Ballot: c.BallotID, Voter: c.Key()}
			places[slot] = append(places[slot], i)
		}
	}
	for _, at := range places {
		if len(at) < 2 {
			continue
		}
		casts := make([]*ballot.Checked, len(at))
		for k, i := range at {
			casts[k] = txs[i]
		}
		slices.SortStableFunc(casts, func(x, y *ballot.Checked) int { return cmp.Compare(x.Cast.Seq, y.Cast.Seq) })
		for k, i := range at {
			txs[i] = casts[k]
		}
	}
	return txs
}

func (a *App) remember(hash consensus.Hash, v *validBlock) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.validated) > 16 { // a few rounds' worth; cleared at every final block anyway
		clear(a.validated)
	}
	a.validated[hash] = v
}

// ValidateBlock checks a proposed block: its structure, its place on the
// chain (height, parent, app hash), its time (after the parent's) and
// every transaction, in order. How near the block's time is to this
// validator's clock, on both sides, is the driver's timeliness check
// (consensus.Params.Timely): a re-proposal of a locked block must pass
// here whatever the clock says.
func (a *App) ValidateBlock(ctx context.Context, b *consensus.Block) error {
	_, err := a.validate(ctx, b)
	if err != nil {
		a.metrics.BlocksRefused.Inc()
	}
	return err
}

func (a *App) validate(ctx context.Context, b *consensus.Block) (*validBlock, error) {
	hash := b.Hash()
	a.mu.RLock()
	v, ok := a.validated[hash]
	appHash := a.appHash
	a.mu.RUnlock()
	if ok {
		return v, nil
	}
	h := &b.Header
	height, tipHash, tipTime := a.Tip()
	switch {
	case h.Height != height+1:
		return nil, fmt.Errorf("%w: height %d on a chain at %d", consensus.ErrBlockInvalid, h.Height, height)
	case h.PrevHash != tipHash:
		return nil, fmt.Errorf("%w: parent %s, the chain's tip is %s", consensus.ErrBlockInvalid, h.PrevHash.Short(), tipHash.Short())
	case h.AppHash != appHash:
		return nil, fmt.Errorf("%w: app hash %s, the state's is %s", consensus.ErrBlockInvalid, h.AppHash.Short(), appHash.Short())
	case h.Time <= tipTime:
		return nil, fmt.Errorf("%w: block time %d not after the parent's %d", consensus.ErrBlockInvalid, h.Time, tipTime)
	case int(h.Proposer) >= a.vals.Size():
		return nil, fmt.Errorf("%w: proposer %d of %d validators", consensus.ErrBlockInvalid, h.Proposer, a.vals.Size())
	}
	if err := b.CheckStructure(a.genesis.ChainID, a.genesis.Params); err != nil {
		return nil, err
	}
	checked, err := verifyTxs(ctx, a.rules, a.genesis.Params.MaxTxBytes, b.Txs, a.state, a.verified)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	for _, c := range checked {
		if _, pending := a.pool.Get(c.ID); !pending && c.Cast != nil {
			a.proposedTxs[c.ID] = c
		}
	}
	a.mu.Unlock()
	batch := ballot.NewBatch(a.state, a.rules, h.Height, h.Time)
	batch.SetParallel(parallel)
	batch.SetCounts(a.counts)
	v = &validBlock{ids: make([]consensus.Hash, len(checked))}
	for i, tx := range checked {
		if err := batch.Add(tx); err != nil {
			return nil, fmt.Errorf("%w: tx %d: %v", consensus.ErrBlockInvalid, i, err)
		}
		v.ids[i] = tx.ID
	}
	if v.update, err = batch.Finish(); err != nil {
		return nil, err
	}
	a.remember(hash, v)
	return v, nil
}

// Preverify checks the transactions of consecutive blocks, fetched and
// not yet applied, as one run on all cores across their boundaries (the
// verify stage of the replay pipeline, as in Recount), and keeps what
// passed so that applying them verifies none of it again. It keeps this
// run's and the previous one's (so that a run can be verified while the
// one before it is applied), and may be called while blocks are applied.
// Ballots defined in the kept runs count as known. A block it refuses is
// refused again, and named, when it is applied.
func (a *App) Preverify(ctx context.Context, blocks []*consensus.Block) error {
	if len(blocks) == 0 {
		return nil
	}
	run := make([][][]byte, len(blocks))
	for k, b := range blocks {
		run[k] = b.Txs
	}
	defs := newLookup(a.state)
	a.mu.RLock()
	for _, m := range a.preverified { // ballots defined in runs not applied yet
		for _, c := range m {
			if c.Ballot != nil {
				defs.own[c.Ballot.ID] = c.Ballot
			}
		}
	}
	a.mu.RUnlock()
	checked, err := verifyRun(ctx, a.rules, a.genesis.Params.MaxTxBytes, blocks[0].Header.Height, run, defs, a.pool.Get)
	kept := map[consensus.Hash]*ballot.Checked{}
	if err == nil {
		for _, block := range checked {
			for _, c := range block {
				kept[c.ID] = c
			}
		}
	}
	a.mu.Lock()
	a.preverified[1], a.preverified[0] = a.preverified[0], kept
	a.mu.Unlock()
	return err
}

// verified returns a transaction verified already: in the mempool, or by
// Preverify.
func (a *App) verified(id consensus.Hash) (*ballot.Checked, bool) {
	if c, ok := a.pool.Get(id); ok {
		return c, true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, m := range a.preverified {
		if c, ok := m[id]; ok {
			return c, true
		}
	}
	return nil, false
}

// ApplyBlock makes a decided block final: one synced ledger batch with
// the block, its commit, the tx index and the state changes; then the
// mempool drops what the block made invalid. The commit must have been
// verified by the caller (the driver built it, or sync checked it).
func (a *App) ApplyBlock(ctx context.Context, b *consensus.Block, c *consensus.Commit) error {
	start := time.Now()
	v, err := a.validate(ctx, b)
	if err != nil {
		return fmt.Errorf("apply block %d: %w", b.Header.Height, err)
	}
	if err := a.ledger.Commit(b, c, v.ids, kvs(v.update.Writes())); err != nil {
		return err
	}
	a.state.Remember(v.update)
	a.mu.Lock()
	prevTime := a.tipTime
	a.tipHash, a.tipTime, a.appHash = b.Hash(), b.Header.Time, v.update.AppHash
	clear(a.validated)
	clear(a.proposedTxs)
	for _, id := range v.ids {
		delete(a.preverified[0], id)
		delete(a.preverified[1], id)
	}
	a.mu.Unlock()

	var closed map[consensus.Hash]bool
	for _, id := range a.state.ClosingIn(prevTime, b.Header.Time) {
		if closed == nil {
			closed = map[consensus.Hash]bool{}
		}
		closed[id] = true
	}
	dropped := a.pool.Update(v.ids, v.update, closed)
	m := a.metrics
	m.MempoolDropped.Add(float64(dropped))
	m.MempoolTxs.Set(float64(a.pool.Len()))
	m.MempoolBytes.Set(float64(a.pool.Bytes()))
	m.Height.Set(float64(b.Header.Height))
	m.BlockTxs.Observe(float64(len(b.Txs)))
	m.BlockInterval.Observe(float64(b.Header.Time-prevTime) / 1000)
	m.BlockApply.Observe(time.Since(start).Seconds())
	a.logger.Debug("block final", "height", b.Header.Height, "txs", len(b.Txs), "hash", b.Hash().Short(),
		"apply_ms", time.Since(start).Milliseconds())
	a.notifyFinal(b.Header.Height)
	return nil
}

func kvs(w []ballot.KV) []store.KV {
	out := make([]store.KV, len(w))
	for i, kv := range w {
		out[i] = store.KV{Key: kv.Key, Value: kv.Value}
	}
	return out
}

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
		if a.ledger.Height() >= h {
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
