package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// screenBudget bounds, for each peer, the transactions the frame
// inspection reads against the node's state (TxFilter's costly ones: a
// decoding and a state lookup each, ~5 µs) in casts messages it then
// drops. Final casts are public: a peer sending them again under fresh
// nonces made the node read 165,000 a second on the gossip router's single
// loop, for free (a hostile probe: the node's answers slowed tenfold).
// Once a peer's budget is spent, its casts messages are dropped without
// being read until it refills: an honest peer sends such messages
// rarely (a lagging node gossiping again what it still holds), and what
// it sends that is new comes from the node's other peers too.
//
// The budget is a token bucket a peer: screenRate a second, up to
// screenBurst (a full message). Only the router's loop uses it.
type screenBudget struct {
	now   func() time.Time
	peers map[peer.ID]*tokens
}

type tokens struct {
	left float64
	at   time.Time
}

const (
	screenRate  = 256
	screenBurst = MaxTxsPerMessage
	// maxScreenPeers bounds the table: past it, the buckets that are full
	// again (which say nothing) are dropped.
	maxScreenPeers = 1024
)

func newScreenBudget(now func() time.Time) *screenBudget {
	return &screenBudget{now: now, peers: map[peer.ID]*tokens{}}
}

// refill returns p's bucket as of now.
func (b *screenBudget) refill(p peer.ID) *tokens {
	now := b.now()
	t, ok := b.peers[p]
	if !ok {
		if len(b.peers) >= maxScreenPeers {
			b.sweep(now)
		}
		t = &tokens{left: screenBurst, at: now}
		b.peers[p] = t
	}
	t.left = min(screenBurst, t.left+now.Sub(t.at).Seconds()*screenRate)
	t.at = now
	return t
}

// allows reports whether p has budget left to have a message read.
func (b *screenBudget) allows(p peer.ID) bool { return b.refill(p).left > 0 }

// spend takes n from p's budget.
func (b *screenBudget) spend(p peer.ID, n int) { b.refill(p).left -= float64(n) }

// sweep drops the buckets full again by now.
func (b *screenBudget) sweep(now time.Time) {
	for p, t := range b.peers {
		if t.left+now.Sub(t.at).Seconds()*screenRate >= screenBurst {
			delete(b.peers, p)
		}
	}
}
