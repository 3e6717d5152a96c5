package node

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"slices"
	"sort"
	"sync"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/p2p"
)

// The witness book: the attestations and alarms a node has seen, in
// memory, bounded (node/witness.go takes them from peers and makes this
// node's own).
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
