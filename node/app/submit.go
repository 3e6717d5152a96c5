package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

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
// Those waiting are the mempool's and those still being checked: under
// load most of a node's work is the casts its peers gossip, queued for a
// verifier slot; counting the mempool alone, a devnet of four held
// ~190 MB of decoded casts in that queue (docs/OPERATIONS.md
// §Backpressure).
func (a *App) SubmitFromClient(ctx context.Context, txs [][]byte) ([]*ballot.Checked, []error) {
	if err := a.admission(); err != nil {
		a.metrics.TxsRejected.WithLabelValues(a.reason(err)).Add(float64(len(txs)))
		errs := make([]error, len(txs))
		for i := range errs {
			errs[i] = err
		}
		return make([]*ballot.Checked, len(txs)), errs
	}
	return a.SubmitMany(ctx, txs)
}

// Admit reports whether SubmitFromClient takes transactions now: nil, or
// the error wrapping ballot.ErrOverloaded it would answer every one of
// them, so that an API can refuse a request before it reads and decodes
// its body (the work a node that is behind saves first). A request it
// refuses counts as one transaction refused.
func (a *App) Admit() error {
	err := a.admission()
	if err != nil {
		a.metrics.TxsRejected.WithLabelValues(a.reason(err)).Inc()
	}
	return err
}

// admission is the backpressure's verdict: an error while AdmitPending
// transactions wait (in the mempool or for their check).
func (a *App) admission() error {
	if p := a.pool.Len() + int(a.checking.Load()); p >= a.admit {
		return fmt.Errorf("%w: %d transactions pending, the network is behind: send again later", ballot.ErrOverloaded, p)
	}
	return nil
}

// SubmitMany is Submit for many transactions: the cheap rules first, then
// the signatures in batches on all cores, then the stateful rules and the
// mempool take them in order (so a voter's casts keep their seq order).
func (a *App) SubmitMany(ctx context.Context, txs [][]byte) ([]*ballot.Checked, []error) {
	a.checking.Add(int64(len(txs)))
	defer a.checking.Add(-int64(len(txs)))
	out := make([]*ballot.Checked, len(txs))
	errs := make([]error, len(txs))
	decoded := make([]*ballot.Tx, len(txs))
	a.applying.RLock()
	gen := a.appliedN // the state the casts' stateful rules are checked against
	a.applying.RUnlock()
	var todo []int
	for i, tx := range txs {
		if out[i], decoded[i], errs[i] = a.precheck(tx); errs[i] == nil && out[i] == nil {
			todo = append(todo, i)
		}
	}
	if a.afterPrecheck != nil {
		a.afterPrecheck()
	}
	start := time.Now()
	a.checkQueued(ctx, todo, decoded, txs, out, errs)
	if n := countCasts(todo, decoded); n > 0 {
		per := time.Since(start).Seconds() / float64(n)
		for range n {
			a.metrics.CastVerify.Observe(per)
		}
	}
	// Into the mempool with no block applied meanwhile, so that a cast
	// is checked against the state the mempool was last updated for: a
	// cast's state was checked before its signatures, again if a block
	// was applied since.
	a.applying.RLock()
	stale := a.appliedN != gen
	for i, c := range out {
		if errs[i] == nil {
			if c.Cast == nil || stale {
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
	a.applying.RUnlock()
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

// Prescreen is what SubmitMany would say of tx before checking any
// signature: nil when tx would go on to its signatures (or was verified
// in a proposal), the error it would be refused with otherwise. It
// changes nothing.
func (a *App) Prescreen(tx []byte) error {
	_, _, err := a.precheck(tx)
	return err
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
		return nil, nil, pendingError(id)
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
	// So is a definition or a keykeeper's message sent again once final:
	// each is public, and its checks (registrar keys, a deal's
	// commitments) cost more than a cast's. A deal's or a complaint's
	// stateful rules are lookups (dealt or complained already, keygen
	// closed); an answer's and a share's check it against the dealers'
	// commitments, which must wait for its signature: those are found
	// final in the ledger's index instead (not on a node whose back-fill
	// has not reached them: their signature is checked first there).
	switch {
	case decoded.Definition != nil:
		if _, found, err := a.state.Ballot(id); err == nil && found { // a definition's ballot id is its transaction's
			return nil, nil, fmt.Errorf("ballot %s: %w", id.Short(), ballot.ErrDuplicateBallot)
		}
	case decoded.Deal != nil || decoded.Complaint != nil:
		if err := a.checkState(&ballot.Checked{ID: id, Bytes: tx, Deal: decoded.Deal, Complaint: decoded.Complaint}); err != nil {
			return nil, nil, err
		}
	case decoded.Share != nil || decoded.Answer != nil:
		if h, _, err := a.ledger.TxLocation(id); err == nil {
			return nil, nil, fmt.Errorf("tx %s: %w: final at height %d", id.Short(), ballot.ErrKeykeeperRepeat, h)
		}
	default: // a cast: DecodeTx holds exactly one kind
		c := decoded.Cast
		if err := c.CheckSyntax(); err != nil {
			return nil, nil, err
		}
		c.ShareWith(tx) // the mempool keeps tx: the cast need not copy it
		if err := a.checkState(&ballot.Checked{ID: id, Bytes: tx, Cast: c}); err != nil {
			return nil, nil, err
		}
		// A cast the mempool would refuse (its key has a cast of that seq,
		// or any, pending) is refused before its signatures too: those
		// answers are free to the sender (docs/API.md), so they must be
		// to the node.
		if err := a.pool.SlotFree(c); err != nil {
			return nil, nil, err
		}
	}
	return nil, decoded, nil
}

// pendingError is ballot.ErrDuplicate for a transaction pending here,
// worded only when read: the gossip router's frame inspection asks about
// every transaction of every copy of a message (Prescreen), most of them
// pending.
type pendingError consensus.Hash

func (e pendingError) Error() string {
	return fmt.Sprintf("%v: %s is pending", ballot.ErrDuplicate, consensus.Hash(e).Short())
}

func (e pendingError) Unwrap() error { return ballot.ErrDuplicate }

// checkState applies the stateful rules against the last final state at
// the next block's time.
func (a *App) checkState(c *ballot.Checked) error {
	height, _, tipTime := a.Tip()
	return ballot.NewBatch(a.state, a.rules, height+1, max(a.clock().UnixMilli(), tipTime+1)).Check(c)
}
