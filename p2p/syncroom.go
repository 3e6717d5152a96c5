package p2p

import (
	"context"
	"net"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/cocorico/node/consensus"
)

// Room is the memory one block-sync answer may hold while it is built and
// sent (a snapshot chunk's answer takes its room the same way:
// servedChunk). The handler takes room for a block before it reads it (the most
// a block may weigh) and gives back what the block did not need; the
// host gives back each block's bytes once they are written.
type Room interface {
	// Take reports whether n more bytes fit. The first call of an answer
	// waits a few seconds for room (other answers finishing); later calls
	// do not wait.
	Take(n int) bool
	// Give returns n bytes taken and not kept.
	Give(n int)
}

// Bounds of the memory of block-sync answers.
const (
	// DefaultSyncAnswerBytes bounds the bytes of the sync answers a node
	// holds at once, all peers together: four full answers.
	DefaultSyncAnswerBytes = 4 * maxSyncResponse
	// roomWait bounds the wait of an answer's first Take.
	roomWait = requestTimeout
)

// BlockRoom is the room an answer takes before it reads a block of a
// chain of those parameters: the most a block's transactions weigh, and
// its header, commit and the encoding's heads (the room not needed is
// given back once the block is read).
func BlockRoom(p consensus.Params) int { return p.MaxBlockBytes + 1<<20 }

// perPeerRoom bounds the bytes of one peer's answers together, however
// many streams it opens: one full answer and the room of the block that
// ends it. A "peer" here is its address (roomKey), not its identity:
// identities are free, addresses are not.
func perPeerRoom(p consensus.Params) int64 { return maxSyncResponse + int64(BlockRoom(p)) }

// syncRoom is the memory budget of the block-sync answers and snapshot
// chunks a host serves: a peer that asks and reads nothing (or reads
// slowly) holds its answers' bytes until the stream's deadline; without a
// bound, many such streams from many identities held as many 32 MiB
// answers (64 MiB chunks).
type syncRoom struct {
	mu      sync.Mutex
	limit   int64
	perPeer int64
	used    int64
	byPeer  map[string]int64 // by roomKey
	freed   chan struct{}    // closed, and replaced, when bytes are given back
	waiting int              // answers waiting for room
	shorts  uint64           // answers that found no room at some Take
}

func newSyncRoom(limit, perPeer int64) *syncRoom {
	return &syncRoom{limit: limit, perPeer: min(perPeer, limit), byPeer: map[string]int64{}, freed: make(chan struct{})}
}

// take takes n bytes for p if they fit, and reports whether they did.
func (r *syncRoom) take(p string, n int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.used+n > r.limit || r.byPeer[p]+n > r.perPeer {
		return false
	}
	r.used += n
	r.byPeer[p] += n
	return true
}

// wait is take, waiting until n bytes fit or ctx ends.
func (r *syncRoom) wait(ctx context.Context, p string, n int64) bool {
	r.mu.Lock()
	r.waiting++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.waiting--
		r.mu.Unlock()
	}()
	for {
		r.mu.Lock()
		freed := r.freed
		r.mu.Unlock()
		if r.take(p, n) {
			return true
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

// give returns n bytes of p's.
func (r *syncRoom) give(p string, n int64) {
	if n <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.used -= n
	if r.byPeer[p] -= n; r.byPeer[p] <= 0 {
		delete(r.byPeer, p)
	}
	close(r.freed)
	r.freed = make(chan struct{})
}

// refused counts a taker that found no room.
func (r *syncRoom) refused() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shorts++
}

// inUse is the bytes held by every answer (for tests and metrics).
func (r *syncRoom) inUse() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used
}

// SyncAnswers reports the bytes the answers this host serves (block sync,
// consensus-message pulls, snapshot chunks) hold now, and how many answers since it started went
// short for lack of room: fewer blocks than it could give, or a chunk
// "busy" (Config.SyncAnswerBytes).
func (x *Host) SyncAnswers() (inUse int64, short uint64) { return x.room.counts() }

// GossipFrames reports the bytes the large gossip frames being received
// (proposals) hold now, and how many such frames since the host started
// found no room and had their stream reset (gossipframes.go).
func (x *Host) GossipFrames() (inUse int64, refused uint64) { return x.frames.counts() }

// counts reports the bytes in use and the takers refused so far.
func (r *syncRoom) counts() (int64, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used, r.shorts
}

// waiters is the number of answers waiting for room (for tests).
func (r *syncRoom) waiters() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waiting
}

// roomKey is whose share of the room an answer to peer p at addr takes:
// the IPv4 address, or the IPv6 /64 (what one home or one server holds);
// the peer's identity when the address has no IP.
func roomKey(addr ma.Multiaddr, p peer.ID) string {
	ip, err := manet.ToIP(addr)
	switch {
	case err != nil:
		return "peer " + p.String()
	case ip.To4() != nil:
		return ip.To4().String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// newAnswerRoom is the room of one answer on stream s.
func (x *Host) newAnswerRoom(s network.Stream) *answerRoom {
	c := s.Conn()
	return &answerRoom{r: x.room, p: c.RemotePeer(), key: roomKey(c.RemoteMultiaddr(), c.RemotePeer()), ctx: x.life}
}

// answerRoom is the Room of one answer to peer p, in the share of its
// address (key); release gives back whatever it still holds.
type answerRoom struct {
	r      *syncRoom
	p      peer.ID
	key    string
	ctx    context.Context
	held   int64
	waited bool
	// refused: a Take found no room.
	refused bool
}

var _ Room = (*answerRoom)(nil)

func (a *answerRoom) Take(n int) bool {
	ok := false
	if !a.waited {
		a.waited = true
		ctx, cancel := context.WithTimeout(a.ctx, roomWait)
		ok = a.r.wait(ctx, a.key, int64(n))
		cancel()
	} else {
		ok = a.r.take(a.key, int64(n))
	}
	if ok {
		a.held += int64(n)
	} else {
		a.refused = true
	}
	return ok
}

func (a *answerRoom) Give(n int) {
	if n = min(n, int(a.held)); n <= 0 {
		return
	}
	a.held -= int64(n)
	a.r.give(a.key, int64(n))
}

// release gives back what the answer holds, and counts it short if it
// found no room at some Take.
func (a *answerRoom) release() {
	a.Give(int(a.held))
	if a.refused {
		a.r.refused()
	}
}
