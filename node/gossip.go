package node

import (
	"context"
	"errors"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/p2p"
)

// The gossip handler: what the node does with what peers send, and the
// block-sync answers it serves (p2p.Handler).

var (
	_ p2p.Handler  = (*peerNetwork)(nil)
	_ p2p.TxFilter = (*peerNetwork)(nil)
)

// HandleTxs implements p2p.Handler: each gossiped transaction goes
// through every check, as one sent over HTTP does (signatures on all
// cores). The batch is rejected, and costs its forwarder score, when one
// of them is what a forwarder could have known to be bad; the others are
// kept all the same. Duplicates, replays, timing (not open yet, closed)
// and overload are no one's fault.
func (nw *peerNetwork) HandleTxs(txs [][]byte) p2p.Verdict {
	_, errs := nw.n.app.SubmitMany(context.Background(), txs)
	v := p2p.Ignore
	for _, err := range errs {
		switch {
		case err == nil:
			v = p2p.Accept
		case forwarderFault(err):
			return p2p.Reject
		}
	}
	return v
}

// TxsWanted implements p2p.TxFilter: false when every transaction of the
// batch would be refused before its signatures are checked (pending,
// final, a replay of its key's seq, for a closed ballot...) and none is
// its forwarder's fault, the batch HandleTxs would ignore unchecked. It
// stops at the first one that is not: an honest message is decided on
// its first transaction, new to the node. Every one not pending was
// decoded and checked against the state: costly.
func (nw *peerNetwork) TxsWanted(txs [][]byte) (wanted bool, costly int) {
	for _, tx := range txs {
		err := nw.n.app.Prescreen(tx)
		if errors.Is(err, ballot.ErrDuplicate) { // pending, the common case: a copy of a message taken
			continue
		}
		costly++
		if err == nil || forwarderFault(err) {
			return true, costly
		}
	}
	return false, costly
}

func forwarderFault(err error) bool {
	if errors.Is(err, ballot.ErrNotInStateYet) {
		return false
	}
	for _, e := range []error{ballot.ErrMalformed, ballot.ErrTooLarge, ballot.ErrCastInvalid, ballot.ErrTokenInvalid,
		ballot.ErrVoterSignature, ballot.ErrChoiceOutOfRange, ballot.ErrUnknownRegistrar, ballot.ErrDefinitionInvalid,
		ballot.ErrOrganizerSignature, ballot.ErrOrganizerNotAllowed, ballot.ErrWrongChain, ballot.ErrSealedInvalid,
		ballot.ErrKeykeeperInvalid, ballot.ErrKeykeeperSignature, ballot.ErrDealInvalid} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// HandleConsensus implements p2p.Handler.
func (nw *peerNetwork) HandleConsensus(from peer.ID, m *consensus.Message) p2p.Verdict {
	if m.Proposal != nil {
		nw.recent.add(&m.Proposal.Block, nw.n.ledger.Height())
	}
	if h := m.Height(); h <= nw.n.ledger.Height() {
		return p2p.Ignore // an old height: no use to anyone
	}
	if d := nw.driver.Load(); d != nil {
		if err := d.DeliverVerified(m); err != nil { // p2p's validator verified it
			return p2p.Ignore
		}
	}
	return p2p.Accept
}

// HandleFinal implements p2p.Handler: a final block announced by a peer.
func (nw *peerNetwork) HandleFinal(from peer.ID, h *consensus.Header, c *consensus.Commit) p2p.Verdict {
	if h.Height <= nw.n.ledger.Height() {
		return p2p.Ignore
	}
	// A node far behind (replaying, or joining by state sync) fetches
	// those blocks by sync: keeping every announced block until then
	// would hold one block per height in memory for as long as it lasts.
	if b, ok := nw.recent.get(h.Hash()); ok && h.Height <= nw.n.ledger.Height()+maxPendingAhead {
		nw.mu.Lock()
		nw.pending[h.Height] = decided{b, c}
		nw.mu.Unlock()
	}
	nw.poke()
	return p2p.Accept
}

// maxPendingAhead bounds how far above its height a node keeps announced
// blocks to apply (pending): a sync answer's worth.
const maxPendingAhead = 64

// Height implements p2p.Handler.
func (nw *peerNetwork) Height() uint64 { return nw.n.ledger.Height() }

// SyncBlocks implements p2p.Handler.
func (nw *peerNetwork) SyncBlocks(from uint64, max, maxBytes int, room p2p.Room) ([]p2p.SyncBlock, error) {
	var out []p2p.SyncBlock
	size, reserve := 0, p2p.BlockRoom(nw.n.cfg.Genesis.Params)
	for h := from; h <= nw.n.ledger.Height() && len(out) < max; h++ {
		if !room.Take(reserve) {
			break
		}
		b, err := nw.n.ledger.BlockBytes(h) // not decoded and encoded again
		if err != nil {
			room.Give(reserve)
			return out, err
		}
		c, err := nw.n.ledger.CommitAt(h)
		if err != nil {
			room.Give(reserve)
			return out, err
		}
		sb := p2p.SyncBlock{Block: b, Commit: c.Encode()}
		n := len(sb.Block) + len(sb.Commit)
		if size += n; size > maxBytes && len(out) > 0 || n > reserve && !room.Take(n-reserve) {
			room.Give(reserve)
			break
		}
		room.Give(reserve - n) // negative: nothing
		out = append(out, sb)
	}
	return out, nil
}

// ConsensusMessages implements p2p.Handler.
func (nw *peerNetwork) ConsensusMessages(height uint64) []*consensus.Message {
	d := nw.driver.Load()
	if d == nil {
		return nil
	}
	return d.Messages(height)
}
