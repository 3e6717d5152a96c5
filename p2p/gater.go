package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// banGater refuses connections to and from peers banned for their score.
type banGater struct {
	mu     sync.Mutex
	banned map[peer.ID]time.Time // until when
}

var _ connmgr.ConnectionGater = (*banGater)(nil)

func newBanGater() *banGater { return &banGater{banned: map[peer.ID]time.Time{}} }

// maxBanned bounds the ban table: identities cost nothing, so an
// attacker can be banned under as many as it likes. Past it, the bans
// that ended are dropped, then the one that ends first.
const maxBanned = 4096

func (g *banGater) ban(p peer.ID, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if _, ok := g.banned[p]; !ok && len(g.banned) >= maxBanned {
		var first peer.ID
		for q, until := range g.banned {
			if now.After(until) {
				delete(g.banned, q)
			} else if first == "" || until.Before(g.banned[first]) {
				first = q
			}
		}
		if len(g.banned) >= maxBanned {
			delete(g.banned, first)
		}
	}
	g.banned[p] = now.Add(d)
}

// size is how many bans the table holds.
func (g *banGater) size() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.banned)
}

func (g *banGater) isBanned(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.banned[p]
	if ok && time.Now().After(until) {
		delete(g.banned, p)
		return false
	}
	return ok
}

func (g *banGater) InterceptPeerDial(p peer.ID) bool                        { return !g.isBanned(p) }
func (g *banGater) InterceptAddrDial(p peer.ID, _ multiaddr.Multiaddr) bool { return !g.isBanned(p) }
func (g *banGater) InterceptAccept(network.ConnMultiaddrs) bool             { return true }
func (g *banGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.isBanned(p)
}
func (g *banGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// banDuration is how long a peer whose score fell below the graylist
// threshold stays disconnected.
const banDuration = 10 * time.Minute

// inspectScores disconnects and bans peers below the graylist threshold:
// gossipsub already ignores them; this also frees their connection.
func (x *Host) inspectScores(scores map[peer.ID]float64) {
	limit := scoreThresholds().GraylistThreshold
	for p, s := range scores {
		if s < limit && !x.gater.isBanned(p) {
			x.banAndClose(p, "peer banned for invalid gossip", "score", s)
		}
	}
}

// Ban bans peer p at once, for banDuration, and closes its connection:
// it sent what no honest peer sends (a block whose commit does not make
// it final: an honest peer serves blocks from its ledger, each checked
// against its commit before it was stored).
func (x *Host) Ban(p peer.ID, reason string) {
	if p == x.h.ID() {
		return
	}
	x.banAndClose(p, "peer banned", "reason", reason)
}

// banAndClose logs msg with the peer and args, bans p for banDuration and
// closes its connection: what a low gossip score, a second strike and a
// block without a valid commit all lead to.
func (x *Host) banAndClose(p peer.ID, msg string, args ...any) {
	x.cfg.Logger.Warn(msg, append([]any{"peer", p}, args...)...)
	x.gater.ban(p, banDuration)
	x.h.Network().ClosePeer(p)
}

// Banned reports whether a peer is banned.
func (x *Host) Banned(p peer.ID) bool { return x.gater.isBanned(p) }
