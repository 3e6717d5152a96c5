package app

import (
	"container/list"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// ErrMempoolFull: the node takes no more transactions until a block drains
// the mempool. It wraps ballot.ErrOverloaded.
var ErrMempoolFull = fmt.Errorf("mempool full: %w", ballot.ErrOverloaded)

// Mempool holds verified transactions waiting for a block, in arrival
// order. Every transaction in it passed the stateless checks (signatures)
// once: a block that carries it does not verify it again. It is bounded by
// count and bytes, deduplicated by transaction id and by ballot, voter key
// and seq. Safe for concurrent use.
type Mempool struct {
	maxTxs, maxBytes int
	// onePerVoter refuses a cast while another cast of its voter key is
	// pending: with a re-vote interval, two casts of one key never land
	// in one block, and the voter is better told at once than left
	// waiting for a cast the proposer will drop.
	onePerVoter bool

	mu     sync.Mutex
	order  *list.List // of *pending, oldest first
	byID   map[consensus.Hash]*list.Element
	bySlot map[ballot.VoterSlot][]slotCast
	casts  map[consensus.Hash]int // pending casts per ballot
	bytes  int
	avail  chan struct{}
}

// slotCast is a pending cast of a voter key: its seq and its id. A key has
// one pending cast almost always (never two with a re-vote interval), so a
// short slice per key rather than a map: a map of one entry cost ~300
// bytes, a third of a busy node's mempool.
type slotCast struct {
	seq uint64
	id  consensus.Hash
}

// pending is a transaction in the pool with the time it was added or last
// gossiped again.
type pending struct {
	tx *ballot.Checked
	at time.Time
}

// NewMempool returns an empty mempool of at most maxTxs transactions and
// maxBytes bytes; with onePerVoter, at most one pending cast per voter key
// and ballot.
func NewMempool(maxTxs, maxBytes int, onePerVoter bool) *Mempool {
	return &Mempool{
		maxTxs:      maxTxs,
		maxBytes:    maxBytes,
		onePerVoter: onePerVoter,
		order:       list.New(),
		byID:        make(map[consensus.Hash]*list.Element),
		bySlot:      make(map[ballot.VoterSlot][]slotCast),
		casts:       make(map[consensus.Hash]int),
		avail:       make(chan struct{}, 1),
	}
}

// Add appends a verified transaction.
func (m *Mempool) Add(tx *ballot.Checked) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[tx.ID]; ok {
		return fmt.Errorf("%w: %s pending", ballot.ErrDuplicate, tx.ID.Short())
	}
	if m.order.Len() >= m.maxTxs || m.bytes+len(tx.Bytes) > m.maxBytes {
		return fmt.Errorf("%w: %d transactions, %d bytes", ErrMempoolFull, m.order.Len(), m.bytes)
	}
	if c := tx.Cast; c != nil {
		slot := ballot.VoterSlot{Ballot: c.BallotID, Voter: c.Key()}
		if err := m.slotFreeLocked(slot, c.Seq); err != nil {
			return err
		}
		m.bySlot[slot] = append(m.bySlot[slot], slotCast{seq: c.Seq, id: tx.ID})
		m.casts[c.BallotID]++
	}
	m.byID[tx.ID] = m.order.PushBack(&pending{tx: tx, at: time.Now()})
	m.bytes += len(tx.Bytes)
	select {
	case m.avail <- struct{}{}:
	default:
	}
	return nil
}

// SlotFree reports whether Add would take cast c as far as its voter
// key's pending casts go: ErrSeqReplay if a cast of its seq is pending,
// ErrRevoteTooSoon if any is and the pool takes one per key.
func (m *Mempool) SlotFree(c *ballot.Cast) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.slotFreeLocked(ballot.VoterSlot{Ballot: c.BallotID, Voter: c.Key()}, c.Seq)
}

func (m *Mempool) slotFreeLocked(slot ballot.VoterSlot, seq uint64) error {
	seqs := m.bySlot[slot]
	for _, s := range seqs {
		if s.seq == seq {
			return fmt.Errorf("%w: another cast with seq %d is pending", ballot.ErrSeqReplay, seq)
		}
	}
	if m.onePerVoter && len(seqs) > 0 {
		return fmt.Errorf("%w: an earlier cast of this voter key is pending: wait until it is final", ballot.ErrRevoteTooSoon)
	}
	return nil
}

// Get returns a pending transaction by id.
func (m *Mempool) Get(id consensus.Hash) (*ballot.Checked, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byID[id]
	if !ok {
		return nil, false
	}
	return e.Value.(*pending).tx, true
}

// Len returns the number of pending transactions.
func (m *Mempool) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

// Bytes returns the size of the pending transactions.
func (m *Mempool) Bytes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// Available is signalled when a transaction is added.
func (m *Mempool) Available() <-chan struct{} { return m.avail }

// Reap returns up to maxTxs pending transactions of at most maxBytes in
// all, oldest first, without removing them.
func (m *Mempool) Reap(maxTxs, maxBytes int) []*ballot.Checked {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*ballot.Checked, 0, min(maxTxs, m.order.Len()))
	size := 0
	for e := m.order.Front(); e != nil && len(out) < maxTxs; e = e.Next() {
		tx := e.Value.(*pending).tx
		if size+len(tx.Bytes) > maxBytes {
			break
		}
		size += len(tx.Bytes)
		out = append(out, tx)
	}
	return out
}

// Remove drops the given transactions (final, or found invalid).
func (m *Mempool) Remove(ids []consensus.Hash) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		m.removeLocked(id)
	}
}

func (m *Mempool) removeLocked(id consensus.Hash) {
	e, ok := m.byID[id]
	if !ok {
		return
	}
	tx := m.order.Remove(e).(*pending).tx
	delete(m.byID, id)
	m.bytes -= len(tx.Bytes)
	if c := tx.Cast; c != nil {
		slot := ballot.VoterSlot{Ballot: c.BallotID, Voter: c.Key()}
		seqs := slices.DeleteFunc(m.bySlot[slot], func(s slotCast) bool { return s.seq == c.Seq })
		if len(seqs) == 0 {
			delete(m.bySlot, slot)
		} else {
			m.bySlot[slot] = seqs
		}
		if m.casts[c.BallotID]--; m.casts[c.BallotID] <= 0 {
			delete(m.casts, c.BallotID)
		}
	}
}

// PendingCasts returns how many casts of a ballot are pending.
func (m *Mempool) PendingCasts(ballot consensus.Hash) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.casts[ballot]
}

// Update re-checks the pool after a final block: it drops the block's
// transactions, the pending casts of the voter keys the block touched
// whose seq is no longer higher than the final one, and every pending cast
// of the ballots that the block's time closed. Only what the block can
// have invalidated is looked at: the cost follows the block, not the pool
// (but for the rare block that closes a ballot).
func (m *Mempool) Update(included []consensus.Hash, u *ballot.Update, closed map[consensus.Hash]bool) (dropped int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range included {
		m.removeLocked(id)
	}
	for slot, rec := range u.Voters {
		var stale []consensus.Hash // removeLocked edits the slot's slice
		for _, s := range m.bySlot[slot] {
			if s.seq <= rec.Seq {
				stale = append(stale, s.id)
			}
		}
		for _, id := range stale {
			m.removeLocked(id)
			dropped++
		}
	}
	if len(closed) == 0 {
		return dropped
	}
	for e := m.order.Front(); e != nil; {
		next := e.Next()
		tx := e.Value.(*pending).tx
		if tx.Cast != nil && closed[tx.Cast.BallotID] {
			m.removeLocked(tx.ID)
			dropped++
		}
		e = next
	}
	return dropped
}

// Stale returns up to max transactions pending since before cutoff (added,
// or last returned by Stale), oldest first, and counts them as fresh
// again. The node gossips them once more: a cast accepted while the node
// had no peer, or whose gossip was lost, still reaches a proposer.
func (m *Mempool) Stale(cutoff time.Time, max int) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	now := time.Now()
	for e := m.order.Front(); e != nil && len(out) < max; e = e.Next() {
		p := e.Value.(*pending)
		if !p.at.Before(cutoff) {
			continue
		}
		out = append(out, p.tx.Bytes)
		p.at = now
	}
	return out
}
