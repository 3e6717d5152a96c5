package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/throttle"
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
// The budget is a token bucket a peer (throttle.Buckets): screenBurst
// (a full message), then screenRate a second, in a table of
// maxScreenPeers that forgets the least recently used peer. Only the
// router's loop uses it.
type screenBudget struct {
	now     func() time.Time
	buckets *throttle.Buckets
}

const (
	screenRate  = 256
	screenBurst = MaxTxsPerMessage
	// maxScreenPeers bounds the table: a peer forgotten starts full, as
	// a new identity does.
	maxScreenPeers = 1024
)

func newScreenBudget(now func() time.Time) *screenBudget {
	return &screenBudget{now: now, buckets: throttle.NewBuckets(screenBurst, time.Second/screenRate, maxScreenPeers)}
}

// allows reports whether p has budget left to have a message read.
func (b *screenBudget) allows(p peer.ID) bool { return b.buckets.Wait(string(p), b.now()) == 0 }

// spend takes n from p's budget.
func (b *screenBudget) spend(p peer.ID, n int) { b.buckets.TakeN(string(p), n, b.now()) }
