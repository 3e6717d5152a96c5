package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
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
	return n.witness.wantAttestation(w.Attestation, w.Attestation.Height <= n.finalHere())
}

// alarmAside reports whether an alarm is to be kept aside until judged:
// its height is not final here and this node did not refuse its block.
func (n *Node) alarmAside(a *consensus.Alarm) bool {
	return a.Height > n.finalHere() && !n.witness.refused(a.BlockHash)
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
	if a.Height > n.finalHere() {
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

// fitsChain reports whether an attestation of a height final here (the
// app applied it: finalHere) names this chain's block at that height and
// the app hash after it: the one the next header carries (the validators
// signed it), or, for the newest block, the one this node computed itself
// when it applied it. Only in a back-fill gap, where the next header is
// not held yet, is the app hash taken on trust. An attestation of a
// height in the gap itself cannot be judged here: fitsChain returns the
// ledger's error (store.ErrNotBackfilled).
func (n *Node) fitsChain(a *consensus.Attestation) (bool, error) {
	hdr, err := n.ledger.Header(a.Height)
	switch {
	case err != nil:
		return false, err
	case hdr.Hash() != a.BlockHash:
		return false, nil // another block at a final height: no commit can stand behind it
	}
	// The app's tip, its hash and the app hash after it read together: a
	// block below the tip has its next header in the ledger.
	tipHeight, tip, after := n.app.After()
	if a.Height == tipHeight {
		return tip == a.BlockHash && after == a.AppHash, nil
	}
	next, err := n.ledger.Header(a.Height + 1)
	switch {
	case err == nil:
		return next.AppHash == a.AppHash, nil
	case errors.Is(err, store.ErrNotBackfilled):
		return true, nil
	}
	return false, err
}

// finalHere is the height of the last block this node applied: its
// attestations and alarms are judged, those above it kept aside. Not the
// ledger's height, which moves first (App.Tip): an attestation of the
// block being applied, judged then, would find neither the next header
// nor the app hash after it, and its peer would be punished for this
// node's own moment.
func (n *Node) finalHere() uint64 {
	h, _, _ := n.app.Tip()
	return h
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
	h := n.finalHere()
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
