package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/p2p"
	"github.com/cocorico/node/store"
)

// Attestations and alarms (docs/PROTOCOL.md §Attestations and alarms): a
// volunteer that applied a final block — every cast re-verified, the
// commit checked, the app hash recomputed — signs an attestation and
// gossips it; one that cannot verify a block whose commit is valid raises
// a signed alarm. Every node keeps what it has seen, in memory, bounded.

// Bounds of the witness book.
const (
	// witnessHeights is how many heights of attestations are kept (the
	// most recent ones).
	witnessHeights = 4096
	// witnessesPerHeight bounds the attesting nodes kept per height:
	// beyond, a new key is ignored (a Sybil's thousand keys cost nothing
	// to make and must not cost memory).
	witnessesPerHeight = 64
	// maxAlarms bounds the alarms kept (the first ones: an alarm is
	// rare, and the first ones say the most) of blocks this node refused
	// itself: its own, and peers' that confirm it.
	maxAlarms = 256
	// maxClaims bounds the peers' alarms kept of blocks this node holds
	// final (verified by itself, or not re-verified yet after a state
	// sync): claims anyone can sign with a free key, kept apart so that
	// they crowd out no alarm that confirms this node's own, and few,
	// since one says as much as many.
	maxClaims = 16
	// maxFutureAlarms bounds the alarms of blocks not final here yet,
	// kept aside until their height is (then kept only if they name the
	// block final here).
	maxFutureAlarms = 64
	// attestEveryMs is the least block time between two attestations of
	// a volunteer: attesting block h vouches for every block before it
	// (a node applies them in order), so one attestation every few
	// seconds says as much as one per block at a fraction of the cost to
	// every node that checks them (the heartbeat block of an idle chain
	// is attested in turn). docs/OPERATIONS.md §Attestations has the cost.
	attestEveryMs = 2000
)

// witnessBook holds the attestations and alarms a node has seen. Safe for
// concurrent use.
type witnessBook struct {
	vals *consensus.ValidatorSet

	mu       sync.Mutex
	byHeight map[uint64][]*consensus.Attestation // sorted by node key
	heights  []uint64                            // sorted, at most witnessHeights
	alarms   []*consensus.Alarm                  // this node's own and peers' of the blocks it refused
	claims   []*consensus.Alarm                  // peers' of blocks final here
	raised   map[consensus.Hash]bool             // blocks this node raised an alarm on
	// latest is each attesting node's highest height among the kept
	// attestations, and latestAt how many nodes have each height as
	// theirs: count reads them instead of every attestation.
	latest   map[string]uint64
	latestAt map[uint64]int
	// future holds attestations of heights not final here yet (at most
	// p2p.MaxWitnessAhead above), until settleWitnesses judges them.
	future       map[uint64][]*consensus.Attestation
	futureAlarms []*consensus.Alarm     // likewise, alarms
	ownTime      int64                  // block time of this node's last attestation
	ownLatest    *consensus.Attestation // this node's last attestation (attestAgain)
}

func newWitnessBook(vals *consensus.ValidatorSet) *witnessBook {
	return &witnessBook{vals: vals, byHeight: map[uint64][]*consensus.Attestation{}, raised: map[consensus.Hash]bool{},
		future: map[uint64][]*consensus.Attestation{}, latest: map[string]uint64{}, latestAt: map[uint64]int{}}
}

// errValidatorAttests: validators do not attest (they signed the commit).
var errValidatorAttests = errors.New("a validator's attestation")

// addAttestation keeps a (already verified). It reports false for a
// duplicate (one attestation per node per height), a height full of
// others, or one older than every kept height when the book is full.
func (w *witnessBook) addAttestation(a *consensus.Attestation) (bool, error) {
	if _, ok := w.vals.IndexOf(a.Node); ok {
		return false, errValidatorAttests
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	list, ok := w.byHeight[a.Height]
	if !ok {
		if len(w.heights) >= witnessHeights {
			if a.Height < w.heights[0] {
				return false, nil
			}
			w.dropOldestHeight()
		}
		i, _ := slices.BinarySearch(w.heights, a.Height)
		w.heights = slices.Insert(w.heights, i, a.Height)
	}
	i, found := sort.Find(len(list), func(i int) int { return bytes.Compare(a.Node, list[i].Node) })
	if found || len(list) >= witnessesPerHeight {
		return false, nil
	}
	w.byHeight[a.Height] = slices.Insert(list, i, a)
	if old := w.latest[string(a.Node)]; a.Height > old {
		if old > 0 {
			w.latestAt[old]--
		}
		w.latest[string(a.Node)] = a.Height
		w.latestAt[a.Height]++
	}
	return true, nil
}

// dropOldestHeight forgets the attestations of the oldest height kept. A
// node whose highest height that was attests nothing kept any more (the
// heights go oldest first).
func (w *witnessBook) dropOldestHeight() {
	h := w.heights[0]
	for _, a := range w.byHeight[h] {
		if w.latest[string(a.Node)] == h {
			delete(w.latest, string(a.Node))
		}
	}
	delete(w.latestAt, h)
	delete(w.byHeight, h)
	w.heights = w.heights[1:]
}

// addFuture keeps an attestation of a height not final here yet; false
// for a duplicate, a full height, or too many heights ahead.
func (w *witnessBook) addFuture(a *consensus.Attestation) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.future[a.Height]
	if len(list) == 0 && len(w.future) >= p2p.MaxWitnessAhead || len(list) >= witnessesPerHeight {
		return false
	}
	for _, x := range list {
		if bytes.Equal(x.Node, a.Node) {
			return false
		}
	}
	w.future[a.Height] = append(list, a)
	return true
}

// wantAttestation reports whether the book could keep a (its signature
// not checked yet): false for a second of its node at its height, or a
// height whose room is full, as addAttestation (final: a's height is final
// here) or addFuture would find. A validator's is wanted: it is judged
// (and rejected) as before.
func (w *witnessBook) wantAttestation(a *consensus.Attestation, final bool) bool {
	if _, ok := w.vals.IndexOf(a.Node); ok {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !final {
		list := w.future[a.Height]
		if len(list) == 0 && len(w.future) >= p2p.MaxWitnessAhead || len(list) >= witnessesPerHeight {
			return false
		}
		return !slices.ContainsFunc(list, func(x *consensus.Attestation) bool { return bytes.Equal(x.Node, a.Node) })
	}
	list, ok := w.byHeight[a.Height]
	if !ok {
		return len(w.heights) < witnessHeights || a.Height >= w.heights[0]
	}
	_, found := sort.Find(len(list), func(i int) int { return bytes.Compare(a.Node, list[i].Node) })
	return !found && len(list) < witnessesPerHeight
}

// wantAlarm reports whether the book could keep a (its signature not
// checked yet): false for a second of its node and block, or when the
// list it would join is full: the alarms aside (ahead: its height is not
// final here and this node did not refuse its block), the alarms that
// confirm this node's own (it refused the block), or the claims.
func (w *witnessBook) wantAlarm(a *consensus.Alarm, ahead bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	same := sameAlarm(a)
	switch {
	case ahead:
		return len(w.futureAlarms) < maxFutureAlarms && !slices.ContainsFunc(w.futureAlarms, same)
	case slices.ContainsFunc(w.alarms, same) || slices.ContainsFunc(w.claims, same):
		return false
	case w.raised[a.BlockHash]:
		return len(w.alarms) < maxAlarms
	}
	return len(w.claims) < maxClaims
}

// takeFuture removes and returns the kept attestations of heights up to h.
func (w *witnessBook) takeFuture(h uint64) []*consensus.Attestation {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*consensus.Attestation
	for fh, list := range w.future {
		if fh <= h {
			out = append(out, list...)
			delete(w.future, fh)
		}
	}
	return out
}

// attestations returns up to limit attestations of height h, in node key
// order, after the key after (nil: from the first).
func (w *witnessBook) attestations(h uint64, after ed25519.PublicKey, limit int) []*consensus.Attestation {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.byHeight[h]
	i := 0
	if after != nil {
		i = sort.Search(len(list), func(i int) bool { return bytes.Compare(list[i].Node, after) > 0 })
	}
	return slices.Clone(list[i:min(len(list), i+limit)])
}

// count returns how many distinct nodes attested height h or a later one
// (a node applies blocks in order: attesting a later block is having
// re-verified this one too): the nodes whose highest attested height is
// h or above, summed over at most witnessHeights heights (the API asks
// it on every status and results request, unthrottled; reading every
// attestation of a full book took 0.1-0.2 s under the book's lock).
func (w *witnessBook) count(h uint64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	i, _ := slices.BinarySearch(w.heights, h)
	for _, hh := range w.heights[i:] {
		n += w.latestAt[hh]
	}
	return n
}

// addAlarm keeps an alarm: this node's own, or a peer's that confirms it
// (of a block this node refused too), or a peer's claim (of a block final
// here: claim true). It returns false for one already kept (same node,
// block) or beyond its bound: maxAlarms for peers' confirming alarms,
// maxClaims for claims. This node's own alarms are always kept (one per
// block it refused: it stops following the chain at the first), so that
// strangers' alarms cannot hide them.
func (w *witnessBook) addAlarm(a *consensus.Alarm, own, claim bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if same := sameAlarm(a); slices.ContainsFunc(w.alarms, same) || slices.ContainsFunc(w.claims, same) {
		return false
	}
	switch {
	case own:
	case claim && len(w.claims) >= maxClaims, !claim && len(w.alarms) >= maxAlarms:
		return false
	case claim:
		w.claims = append(w.claims, a)
		return true
	}
	w.alarms = append(w.alarms, a)
	return true
}

// sameAlarm matches an alarm of a's node and block (one kept per pair).
func sameAlarm(a *consensus.Alarm) func(*consensus.Alarm) bool {
	return func(x *consensus.Alarm) bool { return x.BlockHash == a.BlockHash && bytes.Equal(x.Node, a.Node) }
}

// addFutureAlarm keeps an alarm of a height not final here yet; false
// for one already kept aside or when maxFutureAlarms are.
func (w *witnessBook) addFutureAlarm(a *consensus.Alarm) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.futureAlarms) >= maxFutureAlarms {
		return false
	}
	if slices.ContainsFunc(w.futureAlarms, sameAlarm(a)) {
		return false
	}
	w.futureAlarms = append(w.futureAlarms, a)
	return true
}

// takeFutureAlarms removes and returns the alarms kept aside that can be
// judged now: of heights up to h, or of a block this node refused itself.
func (w *witnessBook) takeFutureAlarms(h uint64) []*consensus.Alarm {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*consensus.Alarm
	w.futureAlarms = slices.DeleteFunc(w.futureAlarms, func(a *consensus.Alarm) bool {
		if a.Height <= h || w.raised[a.BlockHash] {
			out = append(out, a)
			return true
		}
		return false
	})
	return out
}

// alarmList returns the alarms kept: those of blocks this node refused,
// oldest first, then the claims, oldest first.
func (w *witnessBook) alarmList() []*consensus.Alarm {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Concat(w.alarms, w.claims)
}

// refused reports whether this node raised an alarm on block (a block
// with a valid commit that it could not verify).
func (w *witnessBook) refused(block consensus.Hash) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.raised[block]
}

// firstAlarm reports whether this node has not yet raised an alarm on
// block, and marks it raised.
func (w *witnessBook) firstAlarm(block consensus.Hash) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.raised[block] {
		return false
	}
	w.raised[block] = true
	return true
}

// applyFollowed applies a block made final by others, whose commit the
// caller verified, and says what this node found: a volunteer attests a
// block it applied (one every attestEveryMs of block time), and raises an
// alarm on one it cannot verify.
func (n *Node) applyFollowed(ctx context.Context, b *consensus.Block, c *consensus.Commit) error {
	err := n.app.ApplyBlock(ctx, b, c)
	if n.role != RoleVolunteer {
		return err
	}
	chain := n.app.Rules().Chain
	switch {
	// An attestation of a block vouches for every block before it
	// (PROTOCOL §20): a node that joined by state sync attests nothing
	// until it has re-verified the blocks before its snapshot.
	case err == nil && n.ledger.VerifiedFrom() == 1 && n.witness.due(b.Header.Time):
		a := consensus.NewAttestation(chain, b.Header.Height, b.Hash(), n.app.AppHash(), n.cfg.Key)
		n.witness.own(a)
		n.publishWitness(ctx, &consensus.Witness{Attestation: a})
	case errors.Is(err, consensus.ErrBlockInvalid) && n.witness.firstAlarm(b.Hash()):
		al := consensus.NewAlarm(chain, b.Header.Height, b.Hash(), err.Error(), n.cfg.Key)
		n.logger.Error("ALARM: a final block with a valid commit fails verification", "height", b.Header.Height,
			"block", b.Hash().Short(), "failed", err)
		n.takeAlarm(al, true, false)
		n.publishWitness(ctx, &consensus.Witness{Alarm: al})
		n.settleWitnesses() // peers' alarms of this block, kept aside
	}
	return err
}

// due reports whether a block of that time is to be attested (the first
// one, then one per attestEveryMs), and if so takes the slot.
func (w *witnessBook) due(blockTime int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ownTime != 0 && blockTime-w.ownTime < attestEveryMs {
		return false
	}
	w.ownTime = blockTime
	return true
}

// own keeps this node's own attestation.
func (w *witnessBook) own(a *consensus.Attestation) {
	w.addAttestation(a)
	w.mu.Lock()
	w.ownLatest = a
	w.mu.Unlock()
}

// latestOwn returns this node's last attestation, nil before its first.
func (w *witnessBook) latestOwn() *consensus.Attestation {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ownLatest
}

// attestAgainEvery is how often a volunteer publishes its last
// attestation again (attestAgain).
const attestAgainEvery = 10 * time.Second

// attestAgain publishes, every period, this volunteer's last attestation
// again. A node asks its peers for no message (docs/PROTOCOL.md §22): an
// attestation a peer missed (published before the peer joined the
// topic, or lost in a full queue) would otherwise count there only once
// a later one comes, and an idle chain's blocks are minutes apart. The
// same bytes are the same message: a peer that has it drops it at its
// first look (its seen cache, or its book's duplicate before any
// signature check).
func (nw *peerNetwork) attestAgain(ctx context.Context, period time.Duration) {
	everyTick(ctx, period, func() {
		if a := nw.n.witness.latestOwn(); a != nil {
			nw.n.publishWitness(ctx, &consensus.Witness{Attestation: a})
		}
	})
}

// takeAlarm keeps an alarm, this node's own (always) or a peer's, and
// counts it: a claim (a peer's alarm of a block final here) in its own
// counter, which no operator's alert should follow as it follows
// cocorico_alarms_total.
func (n *Node) takeAlarm(a *consensus.Alarm, own, claim bool) bool {
	if !n.witness.addAlarm(a, own, claim) {
		return false
	}
	if claim {
		n.metrics.AlarmClaims.Inc()
	} else {
		n.metrics.Alarms.Inc()
	}
	return true
}

func (n *Node) publishWitness(ctx context.Context, w *consensus.Witness) {
	if n.net == nil {
		return
	}
	if err := n.net.host.PublishWitness(ctx, w); err != nil {
		n.logger.Debug("witness publish failed", "height", w.Height(), "err", err)
	}
}

var _ p2p.WitnessFilter = (*peerNetwork)(nil)

// WitnessWanted implements p2p.WitnessFilter: whether the node could keep
// w, told before w's signature is checked (HandleWitness would ignore it
// otherwise): a Sybil's attestations of a full height, a replay of one
// kept, alarms once their list is full cost no signature check.
func (nw *peerNetwork) WitnessWanted(w *consensus.Witness) bool {
	n := nw.n
	if a := w.Alarm; a != nil {
		return n.witness.wantAlarm(a, n.alarmAside(a))
	}
	return n.witness.wantAttestation(w.Attestation, w.Attestation.Height <= n.ledger.Height())
}

// alarmAside reports whether an alarm is to be kept aside until judged:
// its height is not final here and this node did not refuse its block.
func (n *Node) alarmAside(a *consensus.Alarm) bool {
	return a.Height > n.ledger.Height() && !n.witness.refused(a.BlockHash)
}

// HandleWitness implements p2p.Handler: a peer's attestation or alarm,
// signature and chain checked. An attestation by a validator, of a block
// other than the one final here at its height, or of an app hash other
// than the one the next final header carries, breaks a rule (Reject); a
// duplicate or one beyond the book's bounds is Ignored.
func (nw *peerNetwork) HandleWitness(from peer.ID, w *consensus.Witness) p2p.Verdict {
	n := nw.n
	if a := w.Alarm; a != nil {
		if n.alarmAside(a) {
			// Not final here yet: kept aside, judged once it is (settle).
			if !n.witness.addFutureAlarm(a) {
				return p2p.Ignore
			}
			return p2p.Accept
		}
		n.settleWitnesses()
		switch n.alarmFits(a) {
		case errAlarmOtherBlock:
			return p2p.Reject
		case nil:
			if n.takePeerAlarm(a) {
				return p2p.Accept
			}
		}
		return p2p.Ignore
	}
	a := w.Attestation
	if _, ok := n.witness.vals.IndexOf(a.Node); ok {
		return p2p.Reject // validators do not attest
	}
	if a.Height > n.ledger.Height() {
		// Not final here yet: kept aside, judged once it is (settle).
		if !n.witness.addFuture(a) {
			return p2p.Ignore
		}
		return p2p.Accept
	}
	n.settleWitnesses()
	switch fits, err := n.fitsChain(a); {
	case err != nil:
		return p2p.Ignore // in this node's back-fill gap: no verdict, and no cost to the peer that forwarded it
	case !fits:
		return p2p.Reject
	}
	ok, err := n.witness.addAttestation(a)
	switch {
	case err != nil:
		return p2p.Reject
	case !ok:
		return p2p.Ignore
	}
	return p2p.Accept
}

// fitsChain reports whether an attestation of a height final here names
// this chain's block at that height and the app hash after it: the one
// the next header carries (the validators signed it), or, for the newest
// block, the one this node computed itself when it applied it. Only in a
// back-fill gap, where the next header is not held yet, is the app hash
// taken on trust. An attestation of a height in the gap itself cannot be
// judged here: fitsChain returns the ledger's error (store.ErrNotBackfilled).
func (n *Node) fitsChain(a *consensus.Attestation) (bool, error) {
	hdr, err := n.ledger.Header(a.Height)
	switch {
	case err != nil:
		return false, err
	case hdr.Hash() != a.BlockHash:
		return false, nil // another block at a final height: no commit can stand behind it
	}
	// Read before the next header: if the newest block is not a.Height's,
	// a later block is applied and the next header is held.
	tip, after := n.app.After()
	if tip == a.BlockHash {
		return after == a.AppHash, nil
	}
	next, err := n.ledger.Header(a.Height + 1)
	switch {
	case err == nil:
		return next.AppHash == a.AppHash, nil
	case errors.Is(err, store.ErrNotBackfilled):
		return true, nil
	}
	// The newest block, in the ledger and not yet the app's tip: again.
	tip, after = n.app.After()
	return tip == a.BlockHash && after == a.AppHash, nil
}

// errAlarmOtherBlock: an alarm names neither the block final here at its
// height nor a block this node refused itself. Nothing here says a
// commit stands behind it: a stranger's claim about a block that may not
// exist (it would fill the alarms kept and put its text on every node's
// pages).
var errAlarmOtherBlock = errors.New("an alarm of another block than the final one")

// alarmFits says whether a peer's alarm names a block this node knows has
// a valid commit: the one final here at its height, or one it refused
// itself (the lying quorum's block, which honest volunteers all refuse,
// so that none of them holds it final). It returns nil,
// errAlarmOtherBlock, or the error of reading that header (a height in
// the back-fill gap: not judged here).
func (n *Node) alarmFits(a *consensus.Alarm) error {
	if n.witness.refused(a.BlockHash) {
		return nil
	}
	hdr, err := n.ledger.Header(a.Height)
	switch {
	case err != nil:
		return err
	case hdr.Hash() != a.BlockHash:
		return errAlarmOtherBlock
	}
	return nil
}

// takePeerAlarm keeps a peer's alarm that fits (alarmFits) and logs it:
// one that confirms this node's own as an error; a claim about a block
// final here as a warning, at most one every claimLogEvery (anyone can
// sign claims with free keys).
func (n *Node) takePeerAlarm(a *consensus.Alarm) bool {
	claim := !n.witness.refused(a.BlockHash)
	if !n.takeAlarm(a, false, claim) {
		return false
	}
	args := []any{"height", a.Height, "block", a.BlockHash.Short(), "node", fmt.Sprintf("%x", a.Node[:8]), "failed", a.Failed}
	if !claim {
		n.logger.Error("ALARM from a peer: the block this node refused failed its verification too", args...)
		return true
	}
	n.claimLog.Do(func() {
		n.logger.Warn("a peer claims that a block final here fails verification (this node's own verdict stands; "+
			"anyone can sign such a claim)", args...)
	})
	return true
}

// claimLogEvery spaces the log lines of peers' claims.
const claimLogEvery = time.Minute

// settleWitnesses judges the attestations and alarms that arrived before
// their block was final here, now that it is: those that fit the chain
// are kept, the others are dropped.
func (n *Node) settleWitnesses() {
	h := n.ledger.Height()
	for _, a := range n.witness.takeFuture(h) {
		if fits, err := n.fitsChain(a); err == nil && fits {
			n.witness.addAttestation(a)
		}
	}
	for _, a := range n.witness.takeFutureAlarms(h) {
		if n.alarmFits(a) == nil {
			n.takePeerAlarm(a)
		}
	}
}

var _ api.Witnesses = (*Node)(nil)

// Attestations implements api.Witnesses.
func (n *Node) Attestations(h uint64, after ed25519.PublicKey, limit int) []*consensus.Attestation {
	return n.witness.attestations(h, after, limit)
}

// AttestationCount implements api.Witnesses.
func (n *Node) AttestationCount(h uint64) int { return n.witness.count(h) }

// Alarms implements api.Witnesses.
func (n *Node) Alarms() []*consensus.Alarm { return n.witness.alarmList() }
