package node

import (
	"context"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
)

// The consensus transport: the driver's messages to the other validators
// and back (driver.Transport).

var (
	_ driver.Transport = (*peerNetwork)(nil)
	_ driver.Transport = noTransport{}
)

// Pull implements driver.Transport: ask every peer for the height's
// messages; what comes back goes through the driver's verification.
func (nw *peerNetwork) Pull(height uint64) {
	if d := nw.driver.Load(); d != nil {
		nw.host.PullFromSyncPeers(height, d.Deliver)
	}
	nw.poke()
}

// Broadcast implements driver.Transport.
func (nw *peerNetwork) Broadcast(m *consensus.Message) {
	if m.Proposal != nil {
		nw.recent.add(&m.Proposal.Block, nw.n.ledger.Height())
	}
	if err := nw.host.PublishConsensus(context.Background(), m); err != nil { // it queues: nothing to wait for
		nw.n.logger.Debug("consensus publish failed", "err", err)
	}
}

// noTransport is the network of a lone validator.
type noTransport struct{}

func (noTransport) Broadcast(*consensus.Message) {}
func (noTransport) Pull(uint64)                  {}
