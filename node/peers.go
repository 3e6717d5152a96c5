package node

import (
	"cmp"
	"crypto/ed25519"
	"errors"
	"fmt"
)

// DefaultP2PPort is the port a node listens on for peers, TCP and QUIC,
// when it is given peers and no listen address (docs/OPERATIONS.md §Ports).
const DefaultP2PPort = 26656

// DefaultListen returns the listen addresses of a node with peers and no
// listen address of its own: TCP and QUIC on every interface, at port.
func DefaultListen(port int) []string {
	return []string{fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port), fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", port)}
}

// ErrFlagWithoutEffect: a setting that this node's role or network
// ignores, refused rather than ignored in silence.
var ErrFlagWithoutEffect = errors.New("setting without effect")

// resolveNetwork settles the peer network before the node starts (issue 10
// item 9). A node given peers (bootstrap addresses, mDNS, or a port) and no
// listen address listens at DefaultListen: joining a network means dialing
// out and being dialed, since a volunteer adds reach (it serves block sync
// and forwards gossip) only if other nodes can reach it. Dial-out only would
// spare an open port but make every volunteer a leech. Settings that cannot
// take effect are errors rather than silence: a port beside explicit
// listen addresses, a sync cap without a network, a disk cap on a
// validator. (A volunteer without any peer is refused by `cocorico node`:
// tests build such nodes on purpose.)
func (c *Config) resolveNetwork() error {
	p := &c.P2P
	if p.Port != 0 && len(p.Listen) > 0 {
		return fmt.Errorf("%w: a p2p port (%d) and listen addresses %v: give one or the other", ErrFlagWithoutEffect, p.Port, p.Listen)
	}
	if p.Port < 0 || p.Port > 65535 {
		return fmt.Errorf("p2p port %d: want 1 to 65535", p.Port)
	}
	if len(p.Listen) == 0 && (len(p.Bootstrap) > 0 || p.MDNS || p.Port != 0) {
		p.Listen = DefaultListen(cmp.Or(p.Port, DefaultP2PPort))
	}
	network := len(p.Listen) > 0
	switch {
	case p.MaxSyncBytesPerSec > 0 && !network:
		return fmt.Errorf("%w: a block-sync cap on a node without peers (a lone validator syncs from nobody)", ErrFlagWithoutEffect)
	case c.MaxDiskBytes > 0 && c.IsValidator():
		return fmt.Errorf("%w: a disk cap on a validator (only a volunteer may stop following the chain)", ErrFlagWithoutEffect)
	}
	return nil
}

// IsValidator reports whether the genesis names the node's key.
func (c *Config) IsValidator() bool {
	_, ok := c.Genesis.ValidatorSet().IndexOf(c.Key.Public().(ed25519.PublicKey))
	return ok
}
