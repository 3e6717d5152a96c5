package p2p

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/consensus"
)

// Config configures a Host.
type Config struct {
	// Key is the node key: its libp2p identity.
	Key ed25519.PrivateKey
	// Genesis is the chain's genesis: topics are named after its chain id
	// and hash, and consensus messages are checked against its validators.
	Genesis *consensus.Genesis
	// Listen are the multiaddrs to listen on (e.g. /ip4/0.0.0.0/tcp/26656
	// and /ip4/0.0.0.0/udp/26656/quic-v1).
	Listen []string
	// Bootstrap are peers (multiaddrs ending in /p2p/ID) to dial at start
	// and to redial when the node has no peers.
	Bootstrap []string
	// MDNS finds peers on the local network.
	MDNS bool
	// LowPeers and HighPeers are the connection manager's watermarks:
	// beyond HighPeers connections are trimmed down to LowPeers.
	LowPeers, HighPeers int
	// MaxSyncBlocks bounds the blocks of one sync response; default 64.
	MaxSyncBlocks int
	// SyncAnswerBytes bounds the bytes of the block-sync answers and
	// snapshot chunks the node holds at once, every peer's together (one
	// address's: a full answer of 32 MiB and the room of one more block);
	// default DefaultSyncAnswerBytes. An answer waits up to 5 s for room,
	// then goes with the blocks that fit, or none (a chunk: "busy").
	SyncAnswerBytes int64
	// Logger receives structured logs.
	Logger *slog.Logger
	// Metrics receives the network's measures; default none.
	Metrics Metrics
	// OnSyncPeer, if set, is called (on the host's goroutine: it must not
	// block) when a connected peer is identified as speaking block sync:
	// a follower asks it its height at once instead of at its next tick.
	OnSyncPeer func(peer.ID)
}

// Metrics is what the network reports (the node implements it with
// Prometheus).
type Metrics interface {
	// Peers is the number of connected peers.
	Peers(n int)
	// Rejected counts a gossip message rejected by a topic validator.
	Rejected(topic string)
	// Dropped counts a gossip message taken out of its frame before the
	// router remembers it (inspectRPC): why is DropIgnored (the node would
	// ignore it unchecked) or DropUnread (its forwarder's screen budget is
	// spent).
	Dropped(topic, why string)
}

// Why a message was dropped (Metrics.Dropped).
const (
	DropIgnored = "ignored"
	DropUnread  = "unread"
)

type nopMetrics struct{}

var _ Metrics = nopMetrics{}

func (nopMetrics) Peers(int)              {}
func (nopMetrics) Rejected(string)        {}
func (nopMetrics) Dropped(string, string) {}

func (c *Config) validate() error {
	if len(c.Key) != ed25519.PrivateKeySize {
		return errors.New("p2p: no node key")
	}
	if c.Genesis == nil {
		return errors.New("p2p: no genesis")
	}
	if len(c.Listen) == 0 {
		return errors.New("p2p: no listen address")
	}
	if c.LowPeers == 0 {
		c.LowPeers = 32
	}
	if c.HighPeers == 0 {
		c.HighPeers = 64
	}
	if c.HighPeers < c.LowPeers {
		return fmt.Errorf("p2p: high peers %d below low peers %d", c.HighPeers, c.LowPeers)
	}
	if c.MaxSyncBlocks == 0 {
		c.MaxSyncBlocks = 64
	}
	if c.SyncAnswerBytes == 0 {
		c.SyncAnswerBytes = DefaultSyncAnswerBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	return nil
}
