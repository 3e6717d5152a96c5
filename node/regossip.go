package node

import (
	"context"
	"time"

	"github.com/cocorico/node/p2p"
)

// regossip gossips again, every period, the transactions pending for
// longer than a period: one accepted while the node had no peer (a
// volunteer starting up, a validator cut off) or whose gossip was lost
// would otherwise wait for ever on a node that never proposes. Peers that
// have them drop them at the cost of a hash lookup.
func (nw *peerNetwork) regossip(ctx context.Context, period time.Duration) {
	everyTick(ctx, period/3, func() {
		if nw.host.Peers() == 0 {
			return
		}
		if txs := nw.n.pool.Stale(time.Now().Add(-period), p2p.MaxTxsPerMessage); len(txs) > 0 {
			nw.n.logger.Debug("gossiping pending transactions again", "txs", len(txs))
			nw.outbox.add(txs...)
		}
	})
}

// everyTick calls f every period until ctx ends.
func everyTick(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
