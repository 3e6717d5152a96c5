// Package sim runs consensus state machines over a simulated network:
// seeded randomness, a simulated clock, message delays and reordering,
// drops, partitions that heal, crashes and restarts from the persisted
// hard state, and Byzantine validators that equivocate or stay silent.
// It checks agreement and commit validity at every decision. A run is a
// pure function of its Config: a failing seed replays exactly.
package sim

import (
	"container/heap"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cocorico/node/consensus"
)

// Fault is how a validator misbehaves.
type Fault int

// Kinds of Byzantine validators.
const (
	Correct Fault = iota
	// Silent validators send nothing, ever.
	Silent
	// Equivocators sign two different versions of every message they
	// send (and two proposals when they propose) and send each version to
	// a different half of the network.
	Equivocator
)

var _ fmt.Stringer = Fault(0)

func (f Fault) String() string {
	return [...]string{"correct", "silent", "equivocator"}[f]
}

// Config describes one simulation.
type Config struct {
	Seed       uint64
	Validators int
	// Faults assigns a fault to some validators (by index); the rest are correct.
	Faults map[int]Fault
	// Duration is how much simulated time to run.
	Duration time.Duration
	// GST is the global stabilisation time: before it, messages may be
	// dropped, delayed long and partitioned, and correct validators may
	// crash; after it, every correct validator is up and messages arrive
	// within MaxDelay.
	GST time.Duration
	// MaxDelay bounds a message's delay after GST (before GST delays reach 4×).
	MaxDelay time.Duration
	// DropRate is the chance that a message is lost before GST.
	DropRate float64
	// Partitions, if set, splits the network at random moments before GST.
	Partitions bool
	// Crashes, if set, crashes correct validators at random before GST
	// and restarts them from their persisted hard state.
	Crashes bool
	// Params are the consensus parameters (timeouts); default consensus.DefaultParams.
	Params *consensus.Params
}

// Result is what a simulation saw.
type Result struct {
	// Decided is the height every correct validator reached.
	Decided uint64
	// DecidedAfterGST counts heights the slowest correct validator decided after GST.
	DecidedAfterGST uint64
	// Messages delivered, dropped.
	Delivered, Dropped int
	// Evidence pieces seen by correct validators.
	Evidence int
	// RoundChanges seen by correct validators.
	RoundChanges int
}

// HeightsPerSecond is the rate of decisions after GST, in simulated time.
func (r Result) HeightsPerSecond(cfg Config) float64 {
	return float64(r.DecidedAfterGST) / (cfg.Duration - cfg.GST).Seconds()
}

// Violation is a safety failure: the simulation's reason to fail.
type Violation struct {
	Seed   uint64
	Reason string
}

var _ error = (*Violation)(nil)

func (v *Violation) Error() string { return fmt.Sprintf("seed %d: %s", v.Seed, v.Reason) }

type eventKind int

const (
	evMessage eventKind = iota
	evTimeout
	evCrash
	evRestart
	evPartition
	evHeal
	evSync
	evStart
	evResync
)

// resyncEvery is how often a validator pulls its height's messages from
// its peers (the driver does the same over the p2p sync protocol).
const resyncEvery = 500 * time.Millisecond

type event struct {
	at   time.Duration
	seq  uint64
	kind eventKind
	to   int
	from int
	msg  *consensus.Message
	tmo  consensus.Timeout
	h    uint64
}

type queue []*event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type node struct {
	idx       int
	fault     Fault
	key       ed25519.PrivateKey
	m         *consensus.Machine
	persisted consensus.HardState // what the last Ready said to persist
	height    uint64              // last decided height (its "ledger")
	crashed   bool
	group     int                  // partition group
	future    []*consensus.Message // messages for heights not started yet, as the driver keeps them
}

// maxFuture bounds the messages a node keeps for later heights.
const maxFuture = 1000

type world struct {
	cfg     Config
	rng     *rand.Rand
	genesis *consensus.Genesis
	ident   consensus.Chain // the genesis's chain, hashed once
	vals    *consensus.ValidatorSet
	nodes   []*node
	q       queue
	seq     uint64
	now     time.Duration
	// chain is the agreed history: block and one commit per height.
	chain    map[uint64]consensus.Decision
	verified map[string]bool // commits already verified, by encoding
	res      Result
	atGST    []uint64
	err      *Violation
}

// Describe runs cfg and returns each validator's state at the end, to
// look into a seed.
func Describe(cfg Config) string {
	w, err := newWorld(cfg)
	if err != nil {
		return err.Error()
	}
	w.run()
	return w.describe()
}

// Run runs one simulation and returns what it saw, or the safety
// violation that stopped it.
func Run(cfg Config) (Result, error) {
	w, err := newWorld(cfg)
	if err != nil {
		return Result{}, err
	}
	w.run()
	if w.err != nil {
		return w.res, w.err
	}
	return w.res, nil
}

func newWorld(cfg Config) (*world, error) {
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = 50 * time.Millisecond
	}
	w := &world{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		chain: map[uint64]consensus.Decision{}, verified: map[string]bool{}}
	params := consensus.DefaultParams()
	params.TimeoutProposeMs, params.TimeoutProposeDeltaMs = 300, 100
	params.TimeoutVoteMs, params.TimeoutVoteDeltaMs = 200, 100
	if cfg.Params != nil {
		params = *cfg.Params
	}
	var vals []consensus.Validator
	for i := range cfg.Validators {
		seed := make([]byte, ed25519.SeedSize)
		seed[0], seed[1] = byte(i), byte(i>>8)
		k := ed25519.NewKeyFromSeed(seed)
		w.nodes = append(w.nodes, &node{idx: i, fault: cfg.Faults[i], key: k})
		vals = append(vals, consensus.Validator{Name: fmt.Sprintf("v%d", i), PubKey: k.Public().(ed25519.PublicKey)})
	}
	w.genesis = &consensus.Genesis{ChainID: "sim", GenesisTime: time.UnixMilli(0).UTC(), Validators: vals, Params: params}
	w.ident = w.genesis.Chain()
	w.vals = w.genesis.ValidatorSet()
	for _, n := range w.nodes {
		if n.fault == Silent {
			continue
		}
		if err := w.boot(n); err != nil {
			return nil, err
		}
		w.push(&event{at: 0, kind: evStart, to: n.idx})
		w.push(&event{at: resyncEvery, kind: evResync, to: n.idx})
	}
	if cfg.Partitions {
		for t := time.Duration(0); t < cfg.GST; t += time.Duration(w.rng.Int64N(int64(cfg.GST)/2 + 1)) {
			w.push(&event{at: t, kind: evPartition})
		}
	}
	w.push(&event{at: cfg.GST, kind: evHeal})
	if cfg.Crashes {
		for _, n := range w.nodes {
			if n.fault == Correct && w.rng.IntN(3) == 0 {
				at := time.Duration(w.rng.Int64N(int64(cfg.GST) + 1))
				w.push(&event{at: at, kind: evCrash, to: n.idx})
				back := at + time.Duration(w.rng.Int64N(int64(cfg.GST-at)+1))
				w.push(&event{at: back, kind: evRestart, to: n.idx})
			}
		}
	}
	return w, nil
}

func (w *world) boot(n *node) error {
	m, err := consensus.NewMachine(consensus.MachineConfig{Chain: w.ident, Vals: w.vals,
		Params: w.genesis.Params, Key: n.key, Index: uint16(n.idx)}, n.persisted)
	n.m = m
	return err
}

func (w *world) push(e *event) {
	w.seq++
	e.seq = w.seq
	heap.Push(&w.q, e)
}

func (w *world) fail(format string, args ...any) {
	if w.err == nil {
		w.err = &Violation{Seed: w.cfg.Seed, Reason: fmt.Sprintf(format, args...)}
	}
}

func (w *world) run() {
	for w.q.Len() > 0 && w.err == nil {
		e := heap.Pop(&w.q).(*event)
		if e.at > w.cfg.Duration {
			break
		}
		w.now = e.at
		w.handle(e)
	}
	w.res.Decided = ^uint64(0)
	for _, n := range w.nodes {
		if n.fault == Correct {
			w.res.Decided = min(w.res.Decided, n.height)
			if w.atGST != nil {
				w.res.DecidedAfterGST = min(w.res.DecidedAfterGST, n.height-w.atGST[n.idx])
			}
		}
	}
}

func (w *world) handle(e *event) {
	switch e.kind {
	case evPartition:
		for _, n := range w.nodes {
			n.group = w.rng.IntN(2)
		}
		return
	case evHeal:
		for _, n := range w.nodes {
			n.group = 0
		}
		w.atGST = make([]uint64, len(w.nodes))
		w.res.DecidedAfterGST = ^uint64(0)
		for _, n := range w.nodes {
			w.atGST[n.idx] = n.height
			if n.crashed {
				w.restart(n)
			}
		}
		return
	}
	n := w.nodes[e.to]
	if e.kind == evResync && n.crashed {
		w.push(&event{at: w.now + resyncEvery, kind: evResync, to: n.idx})
		return
	}
	if n.fault == Silent || n.crashed && e.kind != evRestart {
		return
	}
	switch e.kind {
	case evStart:
		n.m.StartHeight(n.height + 1)
		w.replayFuture(n)
	case evCrash:
		if w.now < w.cfg.GST {
			n.crashed = true
		}
		return
	case evRestart:
		if n.crashed {
			w.restart(n)
		}
		return

	case evMessage:
		w.res.Delivered++
		switch h := e.msg.Height(); {
		case h == n.m.Height()+1:
			// The next height, not started yet: keep it for the start.
			if len(n.future) < maxFuture {
				n.future = append(n.future, e.msg)
			}
			if n.height < n.m.Height() {
				// Others moved on while this one still waits for a
				// decision it may have missed.
				w.push(&event{at: w.now + w.delay(), kind: evSync, to: n.idx})
			}
		case h > n.m.Height():
			// Behind: ask for the decided blocks (block sync).
			w.push(&event{at: w.now + w.delay(), kind: evSync, to: n.idx})
		default:
			w.step(n, e.msg)
		}
	case evTimeout:
		n.m.Timeout(e.tmo)
	case evResync:
		w.push(&event{at: w.now + resyncEvery, kind: evResync, to: n.idx})
		w.resync(n)
	case evSync:
		if d, ok := w.chain[n.m.Height()]; ok && n.height < n.m.Height() {
			n.m.DecideWithCommit(d.Block, d.Commit)
			w.drain(n)
			if _, more := w.chain[n.height+1]; more {
				w.push(&event{at: w.now + w.delay(), kind: evSync, to: n.idx})
			}
		}
	}
	w.drain(n)
}

// resync pulls n's height's messages from every peer it can reach.
func (w *world) resync(n *node) {
	for _, p := range w.nodes {
		if p == n || p.fault == Silent || p.crashed || p.m == nil {
			continue
		}
		if w.now < w.cfg.GST && (p.group != n.group || w.rng.Float64() < w.cfg.DropRate) {
			continue
		}
		if p.height > n.height {
			// The peer is ahead: the answer carries its height, and n
			// fetches the decided blocks (block sync).
			w.push(&event{at: w.now + 2*w.delay(), kind: evSync, to: n.idx})
			continue
		}
		if p.m.Height() != n.m.Height() {
			continue
		}
		at := w.now + 2*w.delay()
		for _, m := range p.m.Messages() {
			w.push(&event{at: at, kind: evMessage, to: n.idx, from: p.idx, msg: m})
		}
	}
}

func (w *world) step(n *node, m *consensus.Message) {
	if p := m.Proposal; p != nil {
		n.m.StepProposal(p, w.valid(n, &p.Block), true) // one simulated clock: every proposal is timely
	} else {
		n.m.StepVote(m.Vote)
	}
}

func (w *world) replayFuture(n *node) {
	keep := n.future[:0]
	for _, m := range n.future {
		switch h := m.Height(); {
		case h == n.m.Height():
			w.step(n, m)
		case h > n.m.Height():
			keep = append(keep, m)
		}
	}
	n.future = keep
}

func (w *world) restart(n *node) {
	n.crashed = false
	if err := w.boot(n); err != nil {
		w.fail("restart of %d: %v", n.idx, err)
		return
	}
	n.m.StartHeight(n.height + 1)
	w.drain(n)
	w.push(&event{at: w.now + w.delay(), kind: evSync, to: n.idx})
}

// valid is the sim's application: a block is valid when it is well formed
// and extends this node's chain.
func (w *world) valid(n *node, b *consensus.Block) bool {
	if b.CheckStructure(w.genesis.ChainID, w.genesis.Params) != nil || b.Header.Height != n.height+1 {
		return false
	}
	return b.Header.PrevHash == w.prevHash(n.height)
}

func (w *world) prevHash(h uint64) consensus.Hash {
	if h == 0 {
		return w.genesis.Hash()
	}
	d := w.chain[h]
	return d.Block.Hash()
}

func (w *world) block(n *node, h uint64, r uint32, salt byte) *consensus.Block {
	txs := make([][]byte, w.rng.IntN(4))
	for i := range txs {
		txs[i] = []byte{byte(n.idx), byte(h), byte(r), salt, byte(i), byte(w.rng.IntN(256))}
	}
	return &consensus.Block{Header: consensus.Header{ChainID: w.genesis.ChainID, Height: h, Time: w.now.Milliseconds(),
		PrevHash: w.prevHash(h - 1), TxRoot: consensus.MerkleRoot(txs), TxCount: uint32(len(txs)), Proposer: uint16(n.idx)}, Txs: txs}
}

// drain carries out what the machine asks, as the driver would.
func (w *world) drain(n *node) {
	for n.m.HasReady() && w.err == nil {
		rd := n.m.Ready()
		if rd.HardState != nil {
			n.persisted = *rd.HardState // persisted before anything is sent
		}
		w.res.Evidence += len(rd.Evidence)
		w.res.RoundChanges += rd.RoundChanges
		for _, t := range rd.Timeouts {
			w.push(&event{at: w.now + t.Duration, kind: evTimeout, to: n.idx, tmo: t})
		}
		for _, m := range rd.Messages {
			w.broadcast(n, m)
		}
		if p := rd.Propose; p != nil {
			n.m.ProposalReady(p.Height, p.Round, w.block(n, p.Height, p.Round, 0))
		}
		if d := rd.Decision; d != nil {
			w.decided(n, d)
		}
	}
}

func (w *world) decided(n *node, d *consensus.Decision) {
	h := d.Block.Header.Height
	if h != n.height+1 {
		w.fail("validator %d decided height %d after %d", n.idx, h, n.height)
		return
	}
	key := string(d.Commit.Encode())
	if !w.verified[key] {
		if err := d.Commit.Verify(w.ident, w.vals, h, d.Block.Hash()); err != nil {
			w.fail("validator %d decided block %d without a valid commit: %v", n.idx, h, err)
			return
		}
		w.verified[key] = true
	}
	if agreed, ok := w.chain[h]; ok {
		if agreed.Block.Hash() != d.Block.Hash() {
			w.fail("FORK at height %d: validator %d decided %s, another %s", h, n.idx, d.Block.Hash().Short(), agreed.Block.Hash().Short())
			return
		}
	} else {
		w.chain[h] = *d
	}
	n.height = h
	// The next height starts at once (the driver waits for transactions;
	// the simulation always has some).
	w.push(&event{at: w.now, kind: evStart, to: n.idx})
}

func (w *world) delay() time.Duration {
	max := w.cfg.MaxDelay
	if w.now < w.cfg.GST {
		max *= 4
	}
	return time.Duration(w.rng.Int64N(int64(max)) + 1)
}

func (w *world) broadcast(from *node, m *consensus.Message) {
	var twin *consensus.Message
	if from.fault == Equivocator {
		twin = w.equivocate(from, m)
	}
	for _, to := range w.nodes {
		if to.idx == from.idx || to.fault == Silent {
			continue
		}
		msg := m
		if twin != nil && to.idx%2 == 1 {
			msg = twin
		}
		if w.now < w.cfg.GST && (to.group != from.group || w.rng.Float64() < w.cfg.DropRate) {
			w.res.Dropped++
			continue
		}
		w.push(&event{at: w.now + w.delay(), kind: evMessage, to: to.idx, from: from.idx, msg: msg})
	}
}

// equivocate signs a conflicting version of m with the Byzantine
// validator's key, bypassing its machine's guard.
func (w *world) equivocate(n *node, m *consensus.Message) *consensus.Message {
	if p := m.Proposal; p != nil {
		q := *p
		q.Block = *w.block(n, p.Height, p.Round, 1)
		q.Sign(w.ident, n.key)
		return &consensus.Message{Proposal: &q}
	}
	v := *m.Vote
	if v.BlockHash.IsZero() {
		v.BlockHash = consensus.Sum([]byte{byte(w.rng.IntN(256))})
	} else {
		v.BlockHash = consensus.Hash{}
	}
	v.Sign(w.ident, n.key)
	return &consensus.Message{Vote: &v}
}

// describe returns each validator's state, for the report of a stalled seed.
func (w *world) describe() string {
	out := ""
	for _, n := range w.nodes {
		if n.m == nil {
			out += fmt.Sprintf("%d %s\n", n.idx, n.fault)
			continue
		}
		out += fmt.Sprintf("%d %s height %d crashed %v status %+v group %d future %d\n", n.idx, n.fault, n.height, n.crashed, n.m.Status(), n.group, len(n.future))
	}
	return out
}
