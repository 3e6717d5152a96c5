package p2p

import (
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// asked remembers, for each peer, the ids of the messages this node asked
// it for in the last seconds (gossipsub's IWANT, after the peer told it
// had them, IHAVE). A peer that answers such a request keeps a promise
// the gossip router checks: the router counts the promise broken, and
// scores the peer down for it, unless the message reaches its validation.
// So inspectRPC leaves in a witness the node asked for, even one it would
// not keep: an honest peer advertises the attestations its own book kept,
// which this node's may have no room for. It is a gossipsub RawTracer
// (SendRPC, RemovePeer; the rest are no-ops).
type asked struct {
	mu    sync.Mutex
	peers map[peer.ID]*askedIDs
}

// askedKeep is how long an asked id is remembered: the router's follow-up
// time (3 s, after which a promise not kept is broken) and some.
const askedKeep = 5 * time.Second

// maxAskedOfPeer bounds the requests remembered of one peer, the oldest
// forgotten first: the router asks one peer for at most 5,000 a heartbeat
// (1 s; GossipSubMaxIHaveLength). A peer advertising more only has its
// own requests forgotten.
const maxAskedOfPeer = 5000

type askedIDs struct {
	when  map[string]time.Time // an id's last request
	order []askedAt            // every request, the oldest first
}

type askedAt struct {
	id string
	at time.Time
}

// drop forgets the oldest request, and its id unless asked again since.
func (ids *askedIDs) drop() {
	if a := ids.order[0]; ids.when[a.id].Equal(a.at) {
		delete(ids.when, a.id)
	}
	ids.order = ids.order[1:]
}

func newAsked() *asked { return &asked{peers: make(map[peer.ID]*askedIDs)} }

// SendRPC records the ids of a request (IWANT) going to p.
func (a *asked) SendRPC(rpc *pubsub.RPC, p peer.ID) {
	iwant := rpc.GetControl().GetIwant()
	if len(iwant) == 0 {
		return
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := a.peers[p]
	if ids == nil {
		ids = &askedIDs{when: make(map[string]time.Time)}
		a.peers[p] = ids
	}
	ids.expire(now)
	for _, w := range iwant {
		for _, id := range w.GetMessageIDs() {
			// Asked again (not delivered within the follow-up): a new
			// promise, remembered from now.
			if len(ids.order) >= maxAskedOfPeer {
				ids.drop()
			}
			ids.when[id] = now
			ids.order = append(ids.order, askedAt{id, now})
		}
	}
}

// of reports whether this node asked p for the message m in the last
// askedKeep (its id computed only if it asked p for any).
func (a *asked) of(p peer.ID, m *pb.Message) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := a.peers[p]
	if ids == nil {
		return false
	}
	if ids.expire(time.Now()); len(ids.order) == 0 {
		delete(a.peers, p)
		return false
	}
	_, ok := ids.when[messageID(m)]
	return ok
}

// expire forgets the ids asked more than askedKeep before now.
func (ids *askedIDs) expire(now time.Time) {
	for len(ids.order) > 0 && now.Sub(ids.order[0].at) > askedKeep {
		ids.drop()
	}
}

// RemovePeer forgets a peer gone.
func (a *asked) RemovePeer(p peer.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.peers, p)
}

func (*asked) AddPeer(peer.ID, protocol.ID)                         {}
func (*asked) Join(string)                                          {}
func (*asked) Leave(string)                                         {}
func (*asked) Graft(peer.ID, string)                                {}
func (*asked) Prune(peer.ID, string)                                {}
func (*asked) ValidateMessage(*pubsub.Message)                      {}
func (*asked) DeliverMessage(*pubsub.Message)                       {}
func (*asked) RejectMessage(*pubsub.Message, string)                {}
func (*asked) DuplicateMessage(*pubsub.Message)                     {}
func (*asked) ThrottlePeer(peer.ID)                                 {}
func (*asked) RecvRPC(*pubsub.RPC)                                  {}
func (*asked) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*asked) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*asked) UndeliverableMessage(*pubsub.Message)                 {}
func (*asked) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*asked) OnClosedOutboundStream(peer.ID)                       {}

var _ pubsub.RawTracer = (*asked)(nil)
