package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
	"github.com/cocorico/node/p2p"
)

// Refusals of the start-up check (docs/OPERATIONS.md §Start-up checks).
// Each message says what is wrong and what the operator can do.
var (
	// ErrConsensusStateMissing: a validator's consensus state is gone
	// while its ledger holds blocks; it may have signed at the heights to
	// come, and would sign again without knowing.
	ErrConsensusStateMissing = errors.New("consensus state missing")
	// ErrConsensusStateOld: the ledger shows this validator signed at a
	// height beyond what its consensus state records: an old copy.
	ErrConsensusStateOld = errors.New("consensus state older than the ledger")
	// ErrLedgerBehindState: blocks the consensus state shows were final
	// are missing from the ledger, and no peer can give them back.
	ErrLedgerBehindState = errors.New("ledger lost final blocks")
)

// startFacts is what a node learns at start from its ledger, its
// consensus state and its key.
type startFacts struct {
	validator   bool
	lone        bool   // the genesis names this validator only
	ledger      uint64 // the ledger's height
	stateFound  bool
	state       consensus.HardState
	signedAt    uint64 // highest height above state.SignedHeight whose commit carries this validator's signature; 0: none
	peers       bool   // the node has a peer network to fetch blocks from
	unsafeReset bool   // the operator accepts to start without a trustworthy state
}

// startPlan is what the node does before it serves its API or signs.
type startPlan struct {
	// refillTo: block sync must bring the ledger to this height, every
	// block checked against its commit, first.
	refillTo uint64
	// fence: the validator signs nothing until the network's heights are
	// known; then it writes a state fenced through the highest one + 1.
	fence bool
	// catchUp: before it signs, the validator hears the other validators'
	// heights and catches up to the highest one proved, then looks in the
	// commits it fetched for its own signature above its state's (catchUp).
	catchUp bool
	// checked is the ledger's height when the start-up check read its
	// commits for this validator's signature: recover reads those above.
	checked uint64
}

// recovers reports whether the plan has the node recover (refill, catch
// up, fence) before its driver starts.
func (p startPlan) recovers() bool { return p.refillTo > 0 || p.fence || p.catchUp }

// finalByState is the height up to which blocks were final when the
// state was saved: a validator starts height h (and signs there) only
// once block h-1 is in its ledger.
func finalByState(hs consensus.HardState) uint64 {
	h := max(hs.SignedHeight, hs.Height)
	if h == 0 {
		return 0
	}
	return h - 1
}

// planStart decides, from the facts, to start, to recover first (refill
// the ledger from peers; fence the signatures) or to refuse.
func planStart(f startFacts, statePath, ledgerDir string) (startPlan, error) {
	var p startPlan
	if !f.validator {
		return p, nil
	}
	if need := finalByState(f.state); f.stateFound && need > f.ledger {
		if !f.peers {
			return p, fmt.Errorf("%w: the ledger %s ends at block %d but the consensus state shows blocks up to %d were final "+
				"(it signed at height %d): %d final blocks are missing from a damaged or restored ledger, and this node has no "+
				"peer network to fetch them from. Start it with peers (--listen, --bootstrap): it fetches them again and checks "+
				"their commits before it serves or signs; or restore the ledger folder from a backup or from any node of the chain",
				ErrLedgerBehindState, ledgerDir, f.ledger, need, f.state.SignedHeight, need-f.ledger)
		}
		p.refillTo = need
	}
	switch {
	case !f.stateFound && f.unsafeReset:
		// Also with an empty ledger: a validator whose whole data folder
		// was lost looks new, and only the operator knows it is not.
		p.fence = true
	case !f.stateFound && f.ledger > 0:
		signed := "no commit in it names this validator"
		if f.signedAt > 0 {
			signed = fmt.Sprintf("this validator's signature is in the commit of block %d", f.signedAt)
		}
		return p, fmt.Errorf("%w: %s is gone but the ledger holds %d blocks (%s): without it this validator could sign a "+
			"second, different vote at a height it already signed. Restore the consensus folder from this validator's latest "+
			"backup (never an older copy), or start once with --unsafe-reset-consensus-state: the validator then signs "+
			"nothing until the network has passed the heights it may have signed",
			ErrConsensusStateMissing, statePath, f.ledger, signed)
	case f.stateFound && f.signedAt > f.state.SignedHeight:
		if !f.unsafeReset {
			return p, errStateOld(statePath, f.state.SignedHeight, f.signedAt)
		}
		p.fence = true
	}
	// A validator with peers to hear catches up before it signs: its
	// ledger and state may both be an old copy (a disk image put back) or
	// gone (a new-looking validator whose folder was lost), which nothing
	// on its disk shows, and only the commits of the blocks it missed can.
	p.catchUp = f.peers && !f.lone && !p.fence
	p.checked = f.ledger
	return p, nil
}

// errStateOld is the refusal of a consensus state whose last signature is
// at stateSigned while this validator's signature is in the commit of
// block signedAt, above it.
func errStateOld(statePath string, stateSigned, signedAt uint64) error {
	if stateSigned == 0 {
		return fmt.Errorf("%w: %s records no signature, but this validator's signature is in the commit of block %d: its "+
			"data folder was lost, or put back from a copy taken before it signed, and it could sign again where it already "+
			"signed. Put back the latest consensus folder of this very validator, or start once with "+
			"--unsafe-reset-consensus-state: the validator then signs nothing until the network has passed the heights it "+
			"may have signed", ErrConsensusStateOld, statePath, signedAt)
	}
	return fmt.Errorf("%w: %s records a last signature at height %d, but this validator's signature is in the "+
		"ledger's commit of block %d: the state is an old copy, and it could sign again where it already signed. Put back "+
		"the latest consensus folder of this very validator, or start once with --unsafe-reset-consensus-state: the "+
		"validator then signs nothing until the network has passed the heights it may have signed",
		ErrConsensusStateOld, statePath, stateSigned, signedAt)
}

// fenceHeight is the last height a validator started with
// --unsafe-reset-consensus-state must not sign at: the height under way
// after its ledger (ledger + 1), and two past the highest height its peers
// proved (p2p.Host.PeerHeight). Why two: the validator signed at height h
// only once block h-1 was final for it, so a quorum of validators had
// precommitted h-1, each with block h-2 in its ledger; the fence hears
// enough validators (fenceWitnesses) that one of them is in that quorum,
// so peers ≥ h-2. A lone validator has no network to wait out: it fences
// nothing beyond its ledger (the flag then accepts the whole risk of the
// height under way). It never wraps around to fence nothing.
func fenceHeight(lone bool, ledger, peers uint64) uint64 {
	if lone {
		return ledger
	}
	h := max(ledger, satAdd(peers, 1))
	return satAdd(h, 1)
}

// satAdd is a + b, or the largest uint64 rather than a wrapped sum.
func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// fenceWitnesses returns the peer ids of the other validators and how many
// of them a fenced validator must hear before it fences: enough that, with
// at most f = (n-1)/3 validators faulty and this one among them, any
// quorum of q = 2n/3+1 validators holds one honest validator heard:
// n - q + f (2 of the 3 others with 4 validators, 4 of 6 with 7). A liar
// that is not a validator cannot stand in for one: libp2p proves a peer's
// id, and a validator's id is its genesis key's.
func (n *Node) fenceWitnesses() ([]peer.ID, int) {
	vs := n.cfg.Genesis.ValidatorSet()
	var ids []peer.ID
	for i := range vs.Size() {
		v, _ := vs.Get(uint16(i))
		if uint16(i) == n.index {
			continue
		}
		if id, err := p2p.PeerID(v.PubKey); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, min(fenceWitnessesNeeded(vs), len(ids))
}

// fenceWitnessesNeeded is fenceWitnesses' count for the validator set vs:
// n - q + f, with f = Weak - 1 the faulty validators the chain tolerates.
func fenceWitnessesNeeded(vs *consensus.ValidatorSet) int {
	return max(1, vs.Size()-vs.Quorum()+vs.Weak()-1)
}

// readTip reads the ledger's last block and commit back: a damaged table
// under them is found at start, with the file named, rather than at the
// first block the node applies.
func (n *Node) readTip() error {
	h := n.ledger.Height()
	if h == 0 {
		return nil
	}
	_, err := n.ledger.Block(h)
	if err == nil {
		_, err = n.ledger.CommitAt(h)
	}
	if err != nil {
		return ledgerDamaged(fmt.Errorf("ledger %s unreadable: %w", n.cfg.Home.LedgerDir(), err))
	}
	return nil
}

// ledgerDamaged adds to a damaged ledger's error what the operator can do.
func ledgerDamaged(err error) error {
	return fmt.Errorf("%w. Move the ledger folder away (keep it for inspection) and start again: the node fetches the "+
		"chain again from peers, checking every commit (a validator before it serves or signs); or restore it from a "+
		"backup or from any node of the chain", err)
}

// startFacts gathers the facts of this node's home.
func (n *Node) startFacts(st driver.Storage) (startFacts, error) {
	f := startFacts{validator: n.role == RoleValidator, ledger: n.ledger.Height(), peers: len(n.cfg.P2P.Listen) > 0,
		unsafeReset: n.cfg.UnsafeResetConsensusState}
	if !f.validator {
		return f, nil
	}
	f.lone = len(n.cfg.Genesis.Validators) == 1
	var err error
	if f.state, f.stateFound, err = st.Load(); err != nil {
		return f, err
	}
	f.signedAt, err = n.lastSignedAbove(f.state.SignedHeight)
	return f, err
}

// lastSignedAbove returns the highest height above h whose commit in the
// ledger carries this validator's signature, 0 for none: the ledger's own
// evidence of what it signed, read newest first (a validator that signs
// rarely stops at h).
func (n *Node) lastSignedAbove(h uint64) (uint64, error) {
	for at := n.ledger.Height(); at > h; at-- {
		c, err := n.ledger.CommitAt(at)
		if err != nil {
			return 0, err
		}
		if signedBy(c, n.index) {
			return at, nil
		}
	}
	return 0, nil
}

// planStart runs the start-up check of this node.
func (n *Node) planStart(st driver.Storage) (startPlan, error) {
	f, err := n.startFacts(st)
	if err != nil {
		return startPlan{}, err
	}
	p, err := planStart(f, n.cfg.Home.consensusStatePath(), n.cfg.Home.LedgerDir())
	if err != nil {
		return p, err
	}
	switch {
	case p.refillTo > 0:
		n.logger.Warn("the ledger lost final blocks: fetching them from peers before serving or signing",
			"ledger_height", f.ledger, "final_by_state", p.refillTo)
	case p.fence:
		n.logger.Warn("starting without a trustworthy consensus state (--unsafe-reset-consensus-state): this validator signs "+
			"nothing until the network has passed the heights it may have signed", "ledger_height", f.ledger)
	case f.unsafeReset:
		n.logger.Info("--unsafe-reset-consensus-state ignored: the consensus state agrees with the ledger (unless the blocks " +
			"it catches up on before signing carry a later signature of this validator: it then fences)")
	}
	return p, nil
}

func signedBy(c *consensus.Commit, index uint16) bool {
	for _, s := range c.Signatures {
		if s.Validator == index {
			return true
		}
	}
	return false
}

// recover carries out the start-up plan while the network follows the
// chain as a volunteer's does (every block checked against its commit):
// the ledger refilled up to plan.refillTo and then to the height peers
// announce (the state cannot tell whether its last signed height was
// final), then the consensus state fenced; then the driver starts. It
// returns nil when ctx ends first.
func (e *finality) recover(ctx context.Context) error {
	n := e.n
	w := waiter{ctx: ctx, finals: make(chan uint64, 64), deadline: time.NewTimer(n.cfg.RefillTimeout), n: n}
	n.app.SubscribeFinal(w.finals)
	defer w.deadline.Stop()
	if to := e.plan.refillTo; to > n.ledger.Height() {
		from := n.ledger.Height() + 1
		refillErr := func(to uint64) error {
			return fmt.Errorf("%w: no peer gave back blocks %d to %d within %s (the ledger is at %d). Check that peers are "+
				"reachable and start again, or restore the ledger folder from a backup or from any node of the chain",
				ErrLedgerBehindState, from, to, n.cfg.RefillTimeout, n.ledger.Height())
		}
		if ok, err := w.ledgerAt(to); !ok {
			return errOr(err, refillErr(to))
		}
		peers, ok := w.peerHeight(nil, 0)
		if !ok {
			return errOr(ctx.Err(), refillErr(to))
		}
		if ok, err := w.ledgerAt(peers); !ok {
			return errOr(err, refillErr(peers))
		}
		n.logger.Info("ledger refilled from peers, every block checked against its commit", "from", from, "to", n.ledger.Height())
	}
	if e.plan.catchUp {
		e.catchUp(ctx)
		if ctx.Err() != nil {
			return nil
		}
	}
	if !e.plan.fence {
		// The blocks fetched since the start-up check (which found no such
		// signature up to plan.checked) may carry this validator's
		// signature above its state's: an old state (put back with the
		// ledger, or beside a lost one) that only they show.
		hs, _, err := e.state.Load() // a state not found reads as one that signed nothing
		if err != nil {
			return fmt.Errorf("consensus state: %w", err)
		}
		signedAt, err := n.lastSignedAbove(max(hs.SignedHeight, e.plan.checked))
		if err != nil {
			return err
		}
		if signedAt > 0 {
			if !n.cfg.UnsafeResetConsensusState {
				return errStateOld(n.cfg.Home.consensusStatePath(), hs.SignedHeight, signedAt)
			}
			n.logger.Warn("the blocks fetched from peers carry this validator's signature above its consensus state's: "+
				"fencing it (--unsafe-reset-consensus-state)", "state_signed", hs.SignedHeight, "signed_at", signedAt)
			e.plan.fence = true
			w.deadline.Reset(n.cfg.RefillTimeout) // the fence's own wait, whatever the catch-up took
		}
	}
	if e.plan.fence {
		peers := uint64(0)
		lone := len(n.cfg.Genesis.Validators) == 1
		if !lone {
			vals, need := n.fenceWitnesses()
			var ok bool
			if peers, ok = w.peerHeight(vals, need); !ok {
				return errOr(ctx.Err(), fmt.Errorf("%w: fewer than %d of the %d other validators told their height within %s "+
					"(heard: %d), so the heights this validator may have signed are unknown; start again once they are reachable "+
					"(--bootstrap with their p2p addresses)", ErrConsensusStateMissing, need, len(vals), n.cfg.RefillTimeout,
					w.heardOf(vals)))
			}
		}
		through := fenceHeight(lone, n.ledger.Height(), peers)
		hs := driver.Fenced(through)
		if err := e.state.Save(&hs); err != nil {
			return fmt.Errorf("consensus state: %w", err)
		}
		n.logger.Warn("consensus state reset: this validator signs nothing up to the fenced height",
			"fenced_through", through, "ledger_height", n.ledger.Height(), "peers_height", peers)
	}
	if ctx.Err() != nil {
		return nil
	}
	return e.startDriver()
}

// fenceSettle is the least time a fenced validator listens to its peers
// before it fences (peerHeight): the bootstrap peers' dials and redials
// land within it.
const fenceSettle = 10 * time.Second

// errOr returns nil when ctx ended (a stop, not a failure), else err.
func errOr(ctxErr, err error) error {
	if ctxErr != nil {
		return nil
	}
	return err
}

// catchUpWait bounds how long a validator that catches up before signing
// waits to hear the other validators (fenceWitnesses' count of them), and
// how long it waits without its ledger moving while peers prove a height
// above it: past either, it signs with what it has, as it did before it
// caught up first (a validator needed for quorum must not wait for good on
// a peer that proved a height and went away).
const catchUpWait = 30 * time.Second

// catchUp brings the ledger of a validator about to sign to the highest
// height the other validators prove: it asks them their heights until
// enough have answered (fenceWitnesses, any height, 0 included) or
// catchUpWait passed, then waits until no connected peer proves a height
// above the ledger, nor told one left to prove (the follower proves told
// heights by their blocks, or drops them, and fetches the blocks). recover
// then reads the commits so fetched for this validator's signature.
func (e *finality) catchUp(ctx context.Context) {
	n := e.n
	host := n.net.host
	vals, need := n.fenceWitnesses()
	answered := map[peer.ID]bool{}
	for deadline := time.Now().Add(catchUpWait); len(answered) < need && time.Now().Before(deadline); {
		var ask []peer.ID
		for _, p := range vals {
			if !answered[p] && host.Connected(p) {
				ask = append(ask, p)
			}
		}
		for _, p := range n.net.askHeightsOf(ctx, ask) {
			answered[p] = true
		}
		if len(answered) < need {
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	if len(answered) < need {
		n.logger.Warn("signing without having heard enough of the other validators' heights: if this validator's data "+
			"folder was put back from an old copy, it may sign again where it signed", "heard", len(answered), "needed", need,
			"validators", len(vals)+1)
	}
	logged := false
	progress, at := n.ledger.Height(), time.Now()
	for {
		own := n.ledger.Height()
		target, _ := host.PeerHeight()
		if target <= own && len(host.Unproved(own, 1)) == 0 {
			return
		}
		if own > progress {
			progress, at = own, time.Now()
		}
		if time.Since(at) > catchUpWait {
			n.logger.Warn("signing before catching up: no block came from peers for a while", "ledger_height", own,
				"peers_height", target, "waited", catchUpWait)
			return
		}
		if target > own && !logged {
			logged = true
			n.logger.Info("catching up with the other validators before signing", "ledger_height", own, "peers_height", target)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// heardOf counts the peers of ids connected that told or proved a height
// (a height they could not prove is dropped: p2p.Host.Unproven).
func (w *waiter) heardOf(ids []peer.ID) int {
	host, k := w.n.net.host, 0
	for _, p := range ids {
		if host.Connected(p) && host.Heard(p) {
			k++
		}
	}
	return k
}

// waiter waits, until its deadline, for the ledger or the peers.
type waiter struct {
	ctx      context.Context
	finals   chan uint64
	deadline *time.Timer
	n        *Node
}

// ledgerAt waits until the ledger reaches height; false when the
// deadline or the context came first.
func (w *waiter) ledgerAt(height uint64) (bool, error) {
	for w.n.ledger.Height() < height {
		select {
		case <-w.ctx.Done():
			return false, w.ctx.Err()
		case <-w.finals:
		case <-w.deadline.C:
			return false, nil
		}
	}
	return true, nil
}

// peerHeight asks every sync peer its height, all at once, and waits
// until each has told it (a peer silent for proofTimeout is left out), at
// least one has, and no told height above the ledger is left to prove
// or drop (the follower proves them: proveTold); it returns the highest
// height a peer proved (a block with a valid commit), or no higher than
// this node's own. Returning at the first peer's word would let one peer
// that answers first (telling height 1, or a height it proves slowly)
// fence through this node's own height while the network is further
// on, over heights the validator may have signed; a slow or silent peer
// delays the start, it cannot lower the fence. It decides no sooner than
// fenceSettle after it began, so that peers still dialling (distant, or
// unable to dial in) are connected and asked too: a liar that connects
// first must not be the only one heard. And it waits until need of the
// peers vals have been heard (fenceWitnesses: a liar is not a validator),
// however long they take, up to the waiter's deadline.
func (w *waiter) peerHeight(vals []peer.ID, need int) (uint64, bool) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	host := w.n.net.host
	asked := map[peer.ID]time.Time{}
	began := time.Now()
	told := began // the last "waiting for the validators" line
	for {
		var ask []peer.ID
		waiting := false
		for _, p := range host.SyncPeers() {
			at, ok := asked[p]
			switch {
			case host.Heard(p):
			case !ok:
				asked[p] = time.Now()
				ask = append(ask, p)
				waiting = true
			case time.Since(at) < proofTimeout+time.Second:
				waiting = true
			}
		}
		if len(ask) > 0 {
			go w.n.net.askHeightsOf(w.ctx, ask)
		}
		settled := time.Since(began) >= fenceSettle
		heard := w.heardOf(vals)
		if h, _ := host.PeerHeight(); h > 0 && !waiting && settled && len(host.Unproved(w.n.ledger.Height(), 1)) == 0 && heard >= need {
			return h, true
		}
		if settled && heard < need && time.Since(told) >= fenceSettle {
			told = time.Now()
			w.n.logger.Warn("waiting for the other validators' heights before fencing: check that they are up and reachable",
				"heard", heard, "needed", need, "validators", len(vals)+1)
		}
		select {
		case <-w.ctx.Done():
			return 0, false
		case <-tick.C:
		case <-w.deadline.C:
			return 0, false
		}
	}
}
