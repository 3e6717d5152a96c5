package p2p

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/cocorico/node/consensus"
)

// Verdict is a handler's judgement of a gossiped message.
type Verdict int

// Verdicts, as gossipsub's validation results: Reject a provably bad
// message (its forwarder loses score), Ignore a stale or duplicate one.
const (
	Accept Verdict = iota
	Ignore
	Reject
)

// Handler is the node's side of the network.
type Handler interface {
	// HandleTxs checks a gossiped batch of transactions (every rule on
	// each) and takes those that pass. It rejects the batch if any was
	// provably bad: an honest forwarder checked each one.
	HandleTxs(txs [][]byte) Verdict
	// HandleConsensus takes a consensus message whose signer and
	// signature the network already checked.
	HandleConsensus(from peer.ID, m *consensus.Message) Verdict
	// HandleFinal takes the announcement of a final block whose commit
	// the network already checked.
	HandleFinal(from peer.ID, h *consensus.Header, c *consensus.Commit) Verdict
	// HandleWitness takes an attestation or alarm whose chain and
	// signature the network already checked: Accept a new one, Ignore a
	// duplicate or one beyond the node's bounds, Reject one that breaks a
	// rule (a validator's attestation, another block at a final height).
	HandleWitness(from peer.ID, w *consensus.Witness) Verdict
	// Height is the node's last final height.
	Height() uint64
	// SyncBlocks returns up to max final blocks from height from, with
	// their commits, as canonical bytes, of at most maxBytes in all. It
	// takes room for each block before reading it and stops, with the
	// blocks it has, when room refuses (the node's answers hold their
	// share of memory already).
	SyncBlocks(from uint64, max, maxBytes int, room Room) ([]SyncBlock, error)
	// ConsensusMessages returns the proposals and votes the node holds
	// for a height it has not finished (what a lagging validator pulls).
	ConsensusMessages(height uint64) []*consensus.Message
}

// SyncBlock is a final block and its commit as canonical bytes.
type SyncBlock struct {
	Block  []byte `cbor:"1,keyasint"`
	Commit []byte `cbor:"2,keyasint"`
}

// Host is a node's libp2p host with its topics and protocols.
type Host struct {
	cfg     Config
	h       host.Host
	ps      *pubsub.PubSub
	handler Handler
	vals    *consensus.ValidatorSet
	chain   consensus.Chain
	names   topicNames
	topics  map[string]*pubsub.Topic
	mdns    mdns.Service
	gater   *banGater

	bootstrap []peer.AddrInfo

	dialing sync.Map // peer.ID → true while a bootstrap dial is in flight
	pulling sync.Map // peer.ID → true while a message pull is in flight
	// dialFailedAt is when the host last said that a bootstrap peer could
	// not be dialled (unix ns): at most once a minute (the operator's sign
	// that a validator is cut off).
	dialFailedAt atomic.Int64

	snap snapshots // the snapshot source served, and the strike table

	mu      sync.Mutex
	heights map[peer.ID]peerHeight // what each peer told of its height, and what it proved

	// The host's life: the gossip router and every goroutine of the host
	// (subscription readers, dials, pulls, mDNS answers) run under life
	// and are counted in running; Close cancels life and waits for them.
	life context.Context
	stop context.CancelFunc
	// served counts the sync and snapshot streams served per peer.
	served servedStreams
	// room bounds the memory of the sync answers served at once.
	room *syncRoom
	// frames bounds the memory of the large gossip frames being read.
	frames *syncRoom
	// screen bounds each peer's casts the frame inspection reads (inspectRPC).
	screen    *screenBudget
	lifeMu    sync.Mutex
	closed    bool // no goroutine starts any more
	running   sync.WaitGroup
	closeOnce sync.Once
}

// New starts a host listening on cfg.Listen, with its gossip router; Run
// drives its loops. The host lives until Close (Run closes it when it
// returns): a host that is never run must be closed.
func New(cfg Config, handler Handler) (*Host, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	priv, err := crypto.UnmarshalEd25519PrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("p2p: node key: %w", err)
	}
	cm, err := connmgr.NewConnManager(cfg.LowPeers, cfg.HighPeers, connmgr.WithGracePeriod(20*time.Second))
	if err != nil {
		return nil, err
	}
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		return nil, err
	}
	gater := newBanGater()
	h, err := libp2p.New(
		// The node key is the peer identity: peers know a validator by it.
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(cfg.Listen...),
		// TCP and QUIC; Noise secures TCP (QUIC brings TLS 1.3).
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, muxer()),
		// Trim connections beyond HighPeers; protect none by default.
		libp2p.ConnectionManager(cm),
		// Bound memory, streams and connections per peer and in all.
		libp2p.ResourceManager(rm),
		// Volunteers behind home routers: try UPnP / NAT-PMP.
		libp2p.NATPortMap(),
		// Peers banned for invalid gossip stay out.
		libp2p.ConnectionGater(gater),
	)
	if err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	x := &Host{cfg: cfg, h: h, handler: handler, gater: gater, vals: cfg.Genesis.ValidatorSet(), chain: cfg.Genesis.Chain(), names: newTopicNames(cfg.Genesis),
		topics: map[string]*pubsub.Topic{}, heights: map[peer.ID]peerHeight{}, room: newSyncRoom(cfg.SyncAnswerBytes, perPeerRoom(cfg.Genesis.Params)),
		frames: newSyncRoom(gossipFramesBytes, framesPerAddress), screen: newScreenBudget(time.Now), snap: snapshots{reads: newSyncRoom(maxServedChunks, maxServedChunksPerAddress)}}
	// The root of the host's own life, which Close ends (as libp2p's
	// host: New starts it, Close stops it).
	x.life, x.stop = context.WithCancel(context.Background())
	for _, s := range cfg.Bootstrap {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			x.Close()
			return nil, fmt.Errorf("p2p: bootstrap %q: %w", s, err)
		}
		x.bootstrap = append(x.bootstrap, *ai)
	}
	if err := x.startGossip(); err != nil {
		x.Close()
		return nil, err
	}
	h.SetStreamHandler(x.syncProtocol(), x.served.limit(x.serveSync))
	h.SetStreamHandler(x.names.snapshot, x.served.limit(x.serveSnapshot))
	if cfg.MDNS {
		x.mdns = mdns.NewMdnsService(h, x.names.mdns, mdnsNotifee{x})
		if err := x.mdns.Start(); err != nil {
			x.Close()
			return nil, fmt.Errorf("p2p: mdns: %w", err)
		}
	}
	return x, nil
}

// enter counts a goroutine of the host in, unless the host is closing:
// the caller runs only if it returns true, and calls x.running.Done.
func (x *Host) enter() bool {
	x.lifeMu.Lock()
	defer x.lifeMu.Unlock()
	if x.closed {
		return false
	}
	x.running.Add(1)
	return true
}

// spawn runs f in a goroutine of the host's life, unless it is closing.
func (x *Host) spawn(f func(ctx context.Context)) {
	if !x.enter() {
		return
	}
	go func() {
		defer x.running.Done()
		f(x.life)
	}()
}

// ID returns the host's peer id.
func (x *Host) ID() peer.ID { return x.h.ID() }

// Addrs returns the host's listen addresses with its peer id.
func (x *Host) Addrs() []string {
	var out []string
	for _, a := range x.h.Addrs() {
		out = append(out, a.String()+"/p2p/"+x.h.ID().String())
	}
	return out
}

// Peers returns the number of connected peers.
func (x *Host) Peers() int { return len(x.h.Network().Peers()) }

// Connect dials a peer given as a multiaddr with /p2p/ID.
func (x *Host) Connect(ctx context.Context, addr string) error {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return err
	}
	return x.h.Connect(ctx, *ai)
}

// muxer is libp2p's yamux with keepalives every 5 s answered within 5 s
// (instead of 30 s and 10 s): a link that died silently — a cable pulled,
// a container cut off its network, a laptop asleep — is noticed within
// 10 s, and the peer dialled again, instead of being thought connected
// for 40 s while gossip to it goes nowhere.
func muxer() *yamux.Transport {
	cfg := *yamux.DefaultTransport
	cfg.KeepAliveInterval = 5 * time.Second
	cfg.ConnectionWriteTimeout = 5 * time.Second
	return &cfg
}

// Run keeps the host connected (redialing, every 2 s, each bootstrap peer
// it is not connected to, however many other peers it has: a validator
// whose bootstrap peers are the other validators must not count
// volunteers in their place) and reports peers, until ctx ends; then it
// closes the host and returns once every goroutine of the host has
// stopped.
func (x *Host) Run(ctx context.Context) error {
	defer x.Close()
	var identified <-chan any
	if x.cfg.OnSyncPeer != nil {
		sub, err := x.h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
		if err != nil {
			return fmt.Errorf("p2p: subscribe to identify events: %w", err)
		}
		defer sub.Close()
		identified = sub.Out()
	}
	x.dialBootstrap()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-identified:
			if ev, ok := e.(event.EvtPeerIdentificationCompleted); ok && slices.Contains(ev.Protocols, x.names.sync) {
				x.cfg.OnSyncPeer(ev.Peer)
			}
		case <-t.C:
			x.cfg.Metrics.Peers(x.Peers())
			x.dialBootstrap()
		}
	}
}

// dialBootstrap dials the bootstrap peers not connected, all at once
// (one unreachable peer must not hold up the others), at most one dial
// per peer in flight. It clears libp2p's dial backoff first: the backoff
// that failed dials built up while a peer was unreachable would otherwise
// delay the reconnection for minutes once the network heals. The dials
// are goroutines of the host's life.
func (x *Host) dialBootstrap() {
	sw, _ := x.h.Network().(*swarm.Swarm)
	for _, ai := range x.bootstrap {
		if ai.ID == x.h.ID() || x.h.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		if _, busy := x.dialing.LoadOrStore(ai.ID, true); busy {
			continue
		}
		if sw != nil {
			sw.Backoff().Clear(ai.ID)
		}
		x.spawn(func(ctx context.Context) {
			defer x.dialing.Delete(ai.ID)
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			if err := x.h.Connect(dctx, ai); err != nil && ctx.Err() == nil {
				now, last := time.Now().UnixNano(), x.dialFailedAt.Load()
				if now-last >= int64(time.Minute) && x.dialFailedAt.CompareAndSwap(last, now) {
					x.cfg.Logger.Warn("a bootstrap peer cannot be dialled; it is dialled again every 2 s (this is said at most once a minute)",
						"peer", ai.ID, "err", err)
				}
			}
		})
	}
}

// dialTimeout bounds a discovery dial (bootstrap, mDNS).
const dialTimeout = 5 * time.Second

// Close stops the host: it ends the host's life (the gossip router, the
// dials and pulls in flight), waits for every goroutine of the host, then
// closes the topics, mDNS and the libp2p host. It may be called more than
// once; Run calls it when it returns.
func (x *Host) Close() error {
	var err error
	x.closeOnce.Do(func() {
		x.lifeMu.Lock()
		x.closed = true
		x.lifeMu.Unlock()
		x.stop()
		if x.mdns != nil {
			x.mdns.Close()
		}
		x.running.Wait()
		for _, t := range x.topics {
			t.Close()
		}
		err = x.h.Close()
	})
	return err
}

type mdnsNotifee struct{ x *Host }

var _ mdns.Notifee = mdnsNotifee{}

// HandlePeerFound dials a peer found on the local network. mDNS calls it
// in a goroutine of its own; the host counts it in, so that Close waits
// for it, and the dial ends with the host's life.
func (n mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	x := n.x
	if ai.ID == x.h.ID() || !x.enter() {
		return
	}
	defer x.running.Done()
	ctx, cancel := context.WithTimeout(x.life, dialTimeout)
	defer cancel()
	if err := x.h.Connect(ctx, ai); err != nil {
		x.cfg.Logger.Debug("mdns dial failed", "peer", ai.ID, "err", err)
	}
}

// peerHeight is what this node knows of a peer's height: what the peer
// told (the height in its answers to block sync, which anyone can write)
// and what it proved (the height of a block with a valid commit that it
// announced or served; the node checks the commits, Proved records them).
type peerHeight struct {
	told, proven uint64
	// deaf: until then, what the peer tells is not heard (it told a
	// height it did not prove: Unproven).
	deaf time.Time
}

// deafFor is how long a peer that told a height it did not prove is not
// heard: a peer answering block sync, or message pulls, tells its height
// in every answer, and a liar would otherwise be asked to prove it again
// and again, ahead of the honest peers.
const deafFor = time.Minute

// maxPeerHeights bounds the heights table: beyond it, the entries of
// peers no longer connected are dropped (identities cost nothing).
const maxPeerHeights = 1024

// PeerHeight returns the highest height a connected peer proved, and
// that peer: what the node shows as the network's height and fences a
// validator's signatures with. A told height counts up to this node's
// own: a peer saying it is where this node is proves nothing, but claims
// nothing either (a validator restarting at the network's height hears
// no block to prove it).
func (x *Host) PeerHeight() (uint64, peer.ID) {
	own := x.handler.Height()
	return x.bestHeight(func(h peerHeight) uint64 { return max(h.proven, min(h.told, own)) })
}

// ToldHeight returns the highest height a connected peer told, proved or
// not, and that peer: where block sync is to aim. A height no block has
// proved yet is to be proved (Proved) before the node shows it or
// relies on it; one that the peer cannot prove is dropped (Unproven).
func (x *Host) ToldHeight() (uint64, peer.ID) {
	return x.bestHeight(func(h peerHeight) uint64 { return max(h.told, h.proven) })
}

func (x *Host) bestHeight(of func(peerHeight) uint64) (uint64, peer.ID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var best uint64
	var who peer.ID
	for p, h := range x.heights {
		if v := of(h); v > best && x.h.Network().Connectedness(p) == network.Connected {
			best, who = v, p
		}
	}
	return best, who
}

// Heard reports whether peer p told or proved a height, and is not deaf:
// a peer that did not prove the height it told (Unproven) is not heard
// until deafFor has passed and it tells one again, since what it tells
// is not heard meanwhile and its proven height may be far below the one
// it has (a fenced validator must not count it as a witness of that).
func (x *Host) Heard(p peer.ID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	h := x.heights[p]
	return (h.told > 0 || h.proven > 0) && !time.Now().Before(h.deaf)
}

// Proved records that peer p announced or served block h with a valid
// commit (the caller checked it).
func (x *Host) Proved(p peer.ID, h uint64) {
	x.updateHeight(p, func(ph *peerHeight) { ph.proven = max(ph.proven, h) })
}

// Unproven drops what peer p told of its height beyond what it proved
// (asked for the block at the height it told, it did not give it), and
// what it tells for deafFor.
func (x *Host) Unproven(p peer.ID) {
	x.updateHeight(p, func(ph *peerHeight) { ph.told, ph.deaf = ph.proven, time.Now().Add(deafFor) })
}

// Unproved returns the connected peers that told a height above both
// floor and what they proved, with that height: the highest limit.
func (x *Host) Unproved(floor uint64, limit int) map[peer.ID]uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	var ps []peer.ID
	for p, h := range x.heights {
		if h.told > max(floor, h.proven) && x.h.Network().Connectedness(p) == network.Connected {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b peer.ID) int { return cmp.Compare(x.heights[b].told, x.heights[a].told) })
	out := map[peer.ID]uint64{}
	for _, p := range ps[:min(len(ps), limit)] {
		out[p] = x.heights[p].told
	}
	return out
}

// sawHeight records a height peer p told in an answer.
func (x *Host) sawHeight(p peer.ID, h uint64) {
	x.updateHeight(p, func(ph *peerHeight) {
		if time.Now().After(ph.deaf) {
			ph.told = max(ph.told, h)
		}
	})
}

func (x *Host) updateHeight(p peer.ID, update func(*peerHeight)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ph, ok := x.heights[p]
	if !ok && len(x.heights) >= maxPeerHeights {
		for q := range x.heights {
			if x.h.Network().Connectedness(q) != network.Connected {
				delete(x.heights, q)
			}
		}
		if len(x.heights) >= maxPeerHeights {
			return // as many connected peers: the connection manager trims them
		}
	}
	update(&ph)
	x.heights[p] = ph
}

// PeerID returns the libp2p peer id of a node key's public half.
func PeerID(pub ed25519.PublicKey) (peer.ID, error) {
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pk)
}

// Disconnect closes every connection to peer p.
func (x *Host) Disconnect(p peer.ID) error { return x.h.Network().ClosePeer(p) }

// Connected reports whether the host is connected to peer p.
func (x *Host) Connected(p peer.ID) bool {
	return x.h.Network().Connectedness(p) == network.Connected
}
