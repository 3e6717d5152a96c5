// Package driver runs the consensus state machine against real time, the
// node's application and the network: the I/O edge of package consensus
// (as etcd's raft node.go is to its RawNode). One goroutine, owned by
// Run, does everything; other goroutines talk to it through channels.
package driver

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/cocorico/node/consensus"
)

// Application is the node's side of consensus (CometBFT's ABCI, reduced
// to what this chain needs).
type Application interface {
	// ProposeBlock builds the block this validator proposes at height
	// (from the mempool); proposer is its index, t its clock.
	ProposeBlock(ctx context.Context, height uint64, proposer uint16, t time.Time) (*consensus.Block, error)
	// ValidateBlock checks a proposed block against the committed state
	// (header fields, a time after the parent's, every transaction): the
	// paper's valid(v). It reads no clock: whether the block's time is
	// near this validator's clock is the driver's timeliness check
	// (consensus.Params.Timely), which a re-proposal skips.
	ValidateBlock(ctx context.Context, b *consensus.Block) error
	// ApplyBlock makes a decided block final and durable and returns once synced.
	ApplyBlock(ctx context.Context, b *consensus.Block, c *consensus.Commit) error
	// Pending returns how many transactions wait in the mempool.
	Pending() int
	// TxsAvailable is signalled when the mempool gains a transaction.
	TxsAvailable() <-chan struct{}
}

// Transport carries consensus messages between validators.
type Transport interface {
	// Broadcast sends a message to the other validators; it must not block long.
	Broadcast(m *consensus.Message)
	// Pull asks peers for the messages they hold for a height (gossip
	// does not resend lost messages); they come back through Deliver.
	Pull(height uint64)
}

// Metrics is what the driver reports; the node implements it with Prometheus.
type Metrics interface {
	Height(h uint64)
	Round(r uint32)
	RoundChanges(n int)
	Evidence(total int)
}

type nopMetrics struct{}

var _ Metrics = nopMetrics{}

func (nopMetrics) Height(uint64)    {}
func (nopMetrics) Round(uint32)     {}
func (nopMetrics) RoundChanges(int) {}
func (nopMetrics) Evidence(int)     {}

// Config configures a Driver.
type Config struct {
	Genesis *consensus.Genesis
	// Key is this validator's key; it must be in the genesis.
	Key ed25519.PrivateKey
	// StateDir holds the hard state (the write-ahead of signed votes) in
	// a FileStorage, unless Storage is set.
	StateDir string
	// Storage keeps the hard state; default NewFileStorage(nil, StateDir).
	Storage Storage
	// Height is the last committed height at start (0 for a new chain),
	// LastBlockTime that block's time (the genesis time at 0).
	Height        uint64
	LastBlockTime time.Time
	// Clock is the time the driver reads and waits on (block times,
	// timeouts, the block interval, pulls); default SystemClock.
	Clock  Clock
	Logger *slog.Logger
	// Metrics defaults to none.
	Metrics Metrics
	// OnBehind is called when messages show that others are at a
	// higher height (the node then syncs blocks).
	OnBehind func(height uint64)
	// PullEvery is how often the driver pulls its height's messages from
	// peers while the height does not end and no message of it has come
	// for that long; default 2 s. Gossip does not resend what it lost, so
	// silence is when to ask. Pulling every PullEvery of a long height
	// instead fetched the proposal's block from every peer again: at
	// 200,000 casts on a four-validator devnet, whose 5,000-cast heights
	// take seconds, decoding those copies was a tenth of its CPU.
	PullEvery time.Duration
}

func (c *Config) validate() error {
	if c.Genesis == nil {
		return errors.New("driver: no genesis")
	}
	if len(c.Key) != ed25519.PrivateKeySize {
		return errors.New("driver: no key")
	}
	if c.StateDir == "" && c.Storage == nil {
		return errors.New("driver: no state folder")
	}
	if c.Clock == nil {
		c.Clock = SystemClock
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	if c.OnBehind == nil {
		c.OnBehind = func(uint64) {}
	}
	if c.PullEvery == 0 {
		c.PullEvery = 2 * time.Second
	}
	if c.LastBlockTime.IsZero() {
		c.LastBlockTime = c.Genesis.GenesisTime
	}
	return nil
}

// maxFuture bounds the messages kept for the next height.
const maxFuture = 10000

// received is a consensus message with the validator's clock when it
// came in: a proposal's timeliness is judged at that instant, not when
// the driver gets to it after other work.
type received struct {
	m  *consensus.Message
	at time.Time
}

type decidedInput struct {
	b *consensus.Block
	c *consensus.Commit
}

// Driver runs one validator's consensus.
type Driver struct {
	cfg   Config
	app   Application
	tr    Transport
	vals  *consensus.ValidatorSet
	chain consensus.Chain
	index uint16
	m     *consensus.Machine
	store Storage

	msgs    chan received
	decided chan decidedInput

	// Owned by the Run goroutine.
	height     uint64 // last applied height
	waiting    bool   // decided height; waiting to start the next one
	decidedAt  time.Time
	startedAt  time.Time // when this height started (for the logs)
	lastTime   time.Time // time of the last applied block
	future     []received
	invalid    map[consensus.Hash]bool // blocks of this height found invalid
	progressAt time.Time
	resume     bool // the hard state is in the next height
	timeouts   *timeouts

	mu       sync.Mutex
	status   consensus.Status
	evidence []consensus.Evidence
	held     []*consensus.Message
}

// New reads the persisted hard state and returns a driver ready to Run.
// A corrupt state file is ErrStateCorrupt: the driver refuses to start
// rather than risk signing a conflicting vote. Without a hard state, it
// saves the empty one at once, so that a state lost later is seen as
// lost (the node's start-up check refuses a validator whose state is
// missing next to a ledger with blocks).
func New(cfg Config, app Application, tr Transport) (*Driver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	vals := cfg.Genesis.ValidatorSet()
	idx, ok := vals.IndexOf(cfg.Key.Public().(ed25519.PublicKey))
	if !ok {
		return nil, errors.New("driver: this key is not a validator of the genesis")
	}
	st := cfg.Storage
	if st == nil {
		fst, err := NewFileStorage(nil, cfg.StateDir)
		if err != nil {
			return nil, err
		}
		st = fst
	}
	hs, found, err := st.Load()
	if err != nil {
		return nil, err
	}
	if !found {
		if err := st.Save(&hs); err != nil {
			return nil, fmt.Errorf("consensus state: %w", err)
		}
	}
	m, err := consensus.NewMachine(consensus.MachineConfig{Chain: cfg.Genesis.Chain(), Vals: vals, Params: cfg.Genesis.Params,
		Key: cfg.Key, Index: idx}, hs)
	if err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, app: app, tr: tr, vals: vals, chain: cfg.Genesis.Chain(), index: idx, m: m, store: st,
		msgs: make(chan received, 4096), decided: make(chan decidedInput, 64),
		height: cfg.Height, lastTime: cfg.LastBlockTime, invalid: map[consensus.Hash]bool{}, resume: hs.Height == cfg.Height+1}
	if hs.SignedHeight > cfg.Height+1 {
		cfg.Logger.Warn("consensus state is ahead of the ledger: this validator will not sign until the ledger catches up",
			"signed_height", hs.SignedHeight, "ledger_height", cfg.Height)
	}
	return d, nil
}

// Fenced returns the hard state of a validator that must sign nothing at
// any height up to through: it reads as if the validator had signed the
// last step of the last round there, so the machine's double-sign guard
// refuses every signature until height through+1. The node writes it
// when the operator accepts to start without the validator's own state
// (docs/OPERATIONS.md §Start-up checks).
func Fenced(through uint64) consensus.HardState {
	return consensus.HardState{LockedRound: -1, ValidRound: -1,
		SignedHeight: through, SignedRound: math.MaxUint32, SignedStep: consensus.StepDecided}
}

// Deliver verifies a consensus message (signer and signature) and hands it
// to the driver: for messages nobody checked (a pull's answer). Safe from
// any goroutine. It returns an error for an invalid message, or when the
// driver is too busy to take it.
func (d *Driver) Deliver(m *consensus.Message) error {
	at := d.cfg.Clock.Now() // before any work: the proposal's receive time
	if err := m.Verify(d.chain, d.vals); err != nil {
		return err
	}
	return d.take(m, at)
}

// DeliverVerified hands the driver a consensus message whose signer and
// signature the caller verified (p2p's topic validator did, before it
// let the message on): each message is verified once per node.
func (d *Driver) DeliverVerified(m *consensus.Message) error {
	return d.take(m, d.cfg.Clock.Now())
}

func (d *Driver) take(m *consensus.Message, at time.Time) error {
	select {
	case d.msgs <- received{m, at}:
		return nil
	default:
		return errors.New("driver busy")
	}
}

// DeliverDecided is the catch-up path: a block and a commit for it that
// the caller verified (block sync checks each commit it fetches; p2p's
// topic validator checks every announced one), so that a commit is
// verified once per node.
func (d *Driver) DeliverDecided(b *consensus.Block, c *consensus.Commit) error {
	if c.Height != b.Header.Height || c.BlockHash != b.Hash() {
		return fmt.Errorf("%w: commit of block %d %s for block %d %s", consensus.ErrCommitInvalid, c.Height, c.BlockHash.Short(), b.Header.Height, b.Hash().Short())
	}
	select {
	case d.decided <- decidedInput{b, c}:
		return nil
	default:
		return errors.New("driver busy")
	}
}

// Evidence returns the evidence of equivocation seen.
func (d *Driver) Evidence() []consensus.Evidence {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]consensus.Evidence(nil), d.evidence...)
}

// Status returns the consensus status.
func (d *Driver) Status() consensus.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// Messages returns the messages the validator holds for its current
// height (what a peer pulls).
func (d *Driver) Messages(height uint64) []*consensus.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.status.Height != height {
		return nil
	}
	return d.held
}

// Run drives consensus until ctx ends or the application fails to apply
// a decided block (a fault the node cannot go on from). Its timers are
// the clock's and stop when it returns; it starts no goroutine.
func (d *Driver) Run(ctx context.Context) error {
	clock := d.cfg.Clock
	d.timeouts = newTimeouts(clock)
	defer d.timeouts.stop()
	d.waiting, d.decidedAt = true, clock.Now()
	if d.resume {
		// The hard state is in the next height: a restarted validator
		// goes back into its round at once.
		d.start(ctx)
	}
	pull := clock.NewTimer(d.cfg.PullEvery)
	defer pull.Stop()
	gate := clock.NewTimer(0)
	defer gate.Stop()
	d.progressAt = clock.Now()
	for {
		if ctx.Err() != nil {
			return nil
		}
		if err := d.drain(ctx); err != nil {
			return err
		}
		if d.waiting {
			if d.mayStart() {
				d.start(ctx)
				continue
			}
			gate.Reset(d.untilStart())
		}
		select {
		case <-ctx.Done():
			return nil
		case in := <-d.msgs:
			h := d.height + 1
			current := !d.waiting && in.m.Height() == h
			d.onMessage(ctx, in)
			if current && !d.waiting && d.height+1 == h {
				// Gossip is flowing for this height: nothing to pull
				// (pulled answers carry the proposal's whole block again;
				// see Config.PullEvery). Counted once the message is
				// handled: validating a proposal can take seconds.
				d.progressAt = clock.Now()
			}
		case in := <-d.decided:
			d.onDecided(ctx, in)
		case <-d.timeouts.timer.C():
			for _, t := range d.timeouts.due() {
				d.m.Timeout(t)
			}
		case <-d.app.TxsAvailable():
		case <-gate.C():
		case <-pull.C():
			pull.Reset(d.cfg.PullEvery)
			if !d.waiting && clock.Now().Sub(d.progressAt) > d.cfg.PullEvery {
				d.tr.Pull(d.m.Height())
			}
		}
	}
}

// mayStart is the no-empty-blocks rule (docs/CONSENSUS.md §Heights): the
// next height starts BlockInterval after the last decision, and only
// when transactions wait or the heartbeat is due; at once when a full
// block's worth waits.
func (d *Driver) mayStart() bool {
	now := d.cfg.Clock.Now()
	p := d.cfg.Genesis.Params
	pending := d.app.Pending()
	if pending >= p.MaxBlockTxs {
		return true // a full block waits: nothing to gain by waiting
	}
	if now.Sub(d.decidedAt) < time.Duration(p.BlockIntervalMs)*time.Millisecond {
		return false
	}
	return pending > 0 || now.Sub(d.lastTime) >= time.Duration(p.HeartbeatMs)*time.Millisecond
}

func (d *Driver) untilStart() time.Duration {
	now := d.cfg.Clock.Now()
	p := d.cfg.Genesis.Params
	interval := d.decidedAt.Add(time.Duration(p.BlockIntervalMs) * time.Millisecond).Sub(now)
	heartbeat := d.lastTime.Add(time.Duration(p.HeartbeatMs) * time.Millisecond).Sub(now)
	return max(interval, min(heartbeat, time.Second), time.Millisecond)
}

// start begins the next height and replays what arrived for it early.
func (d *Driver) start(ctx context.Context) {
	d.waiting = false
	d.startedAt = d.cfg.Clock.Now()
	d.invalid = map[consensus.Hash]bool{}
	d.progressAt = d.cfg.Clock.Now()
	d.m.StartHeight(d.height + 1)
	future := d.future
	d.future = nil
	for _, in := range future {
		d.onMessage(ctx, in)
	}
}

func (d *Driver) onMessage(ctx context.Context, in received) {
	m := in.m
	h := m.Height()
	switch {
	case h <= d.height:
		return // an old height
	case h == d.height+1 && d.waiting:
		// Others started the next height: start it too.
		d.future = append(d.future, in)
		d.start(ctx)
		return
	case h == d.height+2 || (h == d.height+1 && d.m.Height() != h):
		if len(d.future) < maxFuture {
			d.future = append(d.future, in)
		}
		d.cfg.OnBehind(h - 1)
		return
	case h > d.height+2:
		d.cfg.OnBehind(h - 1)
		return
	}
	if p := m.Proposal; p != nil {
		d.m.StepProposal(p, d.valid(ctx, &p.Block), d.timely(p, in.at))
		return
	}
	d.m.StepVote(m.Vote)
}

// valid is the paper's valid(v): the application's verdict on a block.
func (d *Driver) valid(ctx context.Context, b *consensus.Block) bool {
	h := b.Hash()
	if d.invalid[h] {
		return false
	}
	start := d.cfg.Clock.Now()
	if err := d.app.ValidateBlock(ctx, b); err != nil {
		d.cfg.Logger.Warn("proposed block refused", "height", b.Header.Height, "hash", h.Short(), "err", err)
		d.invalid[h] = true
		return false
	}
	d.cfg.Logger.Debug("proposal valid", "height", b.Header.Height, "txs", len(b.Txs), "ms", d.msSince(start),
		"since_start_ms", d.msSince(d.startedAt))
	return true
}

// timely is PBTS's timely(v) for a proposal taken at the validator's
// clock at (consensus.Params.Timely): a fresh proposal (POL round −1)
// stamped too far from that clock is prevoted nil. It is not cached with
// valid(v): the same block re-proposed with a POL round is not checked.
func (d *Driver) timely(p *consensus.Proposal, at time.Time) bool {
	if p.POLRound >= 0 {
		return true
	}
	if !d.cfg.Genesis.Params.Timely(p.Block.Header.Time, at.UnixMilli(), p.Round) {
		d.cfg.Logger.Warn("proposal not timely", "height", p.Height, "round", p.Round, "block_time", p.Block.Header.Time,
			"received", at.UnixMilli(), "precision_ms", d.cfg.Genesis.Params.PrecisionMs(), "msg_delay_ms", d.cfg.Genesis.Params.MsgDelayMs(p.Round))
		return false
	}
	return true
}

func (d *Driver) onDecided(ctx context.Context, in decidedInput) {
	h := in.b.Header.Height
	switch {
	case h <= d.height:
		return
	case h > d.height+1:
		d.cfg.OnBehind(h)
		return
	}
	if d.waiting {
		d.start(ctx)
	}
	d.m.DecideWithCommit(in.b, in.c)
}

// msSince is the milliseconds since t on the driver's clock, for the logs.
func (d *Driver) msSince(t time.Time) int64 { return d.cfg.Clock.Now().Sub(t).Milliseconds() }

// drain carries out what the machine asks until it asks nothing.
func (d *Driver) drain(ctx context.Context) error {
	for d.m.HasReady() {
		rd := d.m.Ready()
		if rd.HardState != nil {
			// The write-ahead rule: durable before any message leaves.
			if err := d.store.Save(rd.HardState); err != nil {
				return fmt.Errorf("consensus state: %w", err)
			}
		}
		for _, t := range rd.Timeouts {
			d.timeouts.add(t)
		}
		for _, m := range rd.Messages {
			d.tr.Broadcast(m)
		}
		if rd.RoundChanges > 0 {
			d.cfg.Metrics.RoundChanges(rd.RoundChanges)
		}
		if len(rd.Evidence) > 0 {
			d.mu.Lock()
			d.evidence = append(d.evidence, rd.Evidence...)
			n := len(d.evidence)
			d.mu.Unlock()
			d.cfg.Metrics.Evidence(n)
			for _, e := range rd.Evidence {
				d.cfg.Logger.Warn("validator equivocated", "validator", e.VoteA.Validator, "height", e.VoteA.Height,
					"round", e.VoteA.Round, "type", e.VoteA.Type)
			}
		}
		if p := rd.Propose; p != nil {
			start := d.cfg.Clock.Now()
			b, err := d.app.ProposeBlock(ctx, p.Height, d.index, start)
			if err != nil {
				d.cfg.Logger.Warn("no block to propose", "height", p.Height, "round", p.Round, "err", err)
			} else {
				d.cfg.Logger.Debug("proposal built", "height", p.Height, "round", p.Round, "txs", len(b.Txs),
					"ms", d.msSince(start), "since_start_ms", d.msSince(d.startedAt))
				d.m.ProposalReady(p.Height, p.Round, b)
			}
		}
		if dec := rd.Decision; dec != nil {
			start := d.cfg.Clock.Now()
			if err := d.app.ApplyBlock(ctx, dec.Block, dec.Commit); err != nil {
				return fmt.Errorf("apply block %d: %w", dec.Block.Header.Height, err)
			}
			d.cfg.Logger.Debug("block applied", "height", dec.Block.Header.Height, "round", dec.Commit.Round, "txs", len(dec.Block.Txs),
				"ms", d.msSince(start), "since_start_ms", d.msSince(d.startedAt))
			d.height = dec.Block.Header.Height
			d.lastTime = time.UnixMilli(dec.Block.Header.Time)
			now := d.cfg.Clock.Now()
			d.waiting, d.decidedAt, d.progressAt = true, now, now
			d.cfg.Metrics.Height(d.height)
		}
	}
	st := d.m.Status()
	d.cfg.Metrics.Round(st.Round)
	held := d.m.Messages()
	d.mu.Lock()
	d.status, d.held = st, held
	d.mu.Unlock()
	return nil
}
