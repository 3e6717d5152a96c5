package api

import (
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/netutil"

	"github.com/cocorico/node/ballot/registrar"
)

// ConnLimits bound the connections of an HTTP API, so that no client can
// hold the node's file descriptors (which its ledger needs) or memory by
// opening connections and keeping them alive.
type ConnLimits struct {
	// Total connections open at once; a further one waits in the
	// kernel's queue until one closes.
	Total int
	// PerAddress connections from one client address (an IPv6 address
	// by its /64); a further one is closed at once. 0: no bound (behind a
	// reverse proxy every connection comes from the proxy).
	PerAddress int
	// Loopback connections (the operator's own tools, a bench) count
	// toward Total only.
	ExemptLoopback bool
}

// DefaultConnLimits: 4,096 connections, 128 from one address (a browser
// opens 6 to a site; a whole office behind one address stays well under),
// loopback exempt from the per-address bound.
var DefaultConnLimits = ConnLimits{Total: 4096, PerAddress: 128, ExemptLoopback: true}

// LimitListener returns ln bounded by l: Total by golang.org/x/net's
// netutil.LimitListener, PerAddress by counting the open connections of
// each address.
func LimitListener(ln net.Listener, l ConnLimits) net.Listener {
	if l.PerAddress > 0 {
		ln = &perAddress{Listener: ln, limits: l, open: map[string]int{}}
	}
	if l.Total > 0 {
		ln = netutil.LimitListener(ln, l.Total)
	}
	return ln
}

// perAddress closes a connection from an address that has PerAddress
// open already.
type perAddress struct {
	net.Listener
	limits ConnLimits
	mu     sync.Mutex
	open   map[string]int // connections open per address key
}

func (p *perAddress) Accept() (net.Conn, error) {
	for {
		c, err := p.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil || (p.limits.ExemptLoopback && ap.Addr().Unmap().IsLoopback()) {
			return c, nil
		}
		key := registrar.AddressKey(ap.Addr())
		p.mu.Lock()
		if p.open[key] >= p.limits.PerAddress {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.open[key]++
		p.mu.Unlock()
		return &countedConn{Conn: c, release: func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.open[key]--; p.open[key] <= 0 {
				delete(p.open, key)
			}
		}}, nil
	}
}

// countedConn calls release once, when it is closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
