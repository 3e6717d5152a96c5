package node

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
	"github.com/cocorico/node/p2p"
)

// parts are what orders blocks into the app: the consensus driver (on a
// validator) and the peer network (when the node has one).
type parts struct {
	n      *Node
	driver *driver.Driver
	net    *network
	state  driver.Storage // a validator's consensus state
	plan   startPlan
	ready  chan struct{} // closed once the node may serve and sign
}

// newEngine runs the start-up check, then builds the peer network when
// the node listens on one and, for a validator whose check needs no
// recovery, the driver.
func (n *Node) newEngine() (engine, error) {
	e := &parts{n: n, ready: make(chan struct{})}
	if n.role == RoleValidator {
		st, err := driver.NewFileStorage(nil, n.cfg.Home.ConsensusDir())
		if err != nil {
			return nil, err
		}
		e.state = st
		if e.plan, err = n.planStart(st); err != nil {
			return nil, err
		}
	}
	if len(n.cfg.P2P.Listen) > 0 {
		e.net = newNetwork(n)
		host, err := p2p.New(p2p.Config{
			Key: n.cfg.Key, Genesis: n.cfg.Genesis, Listen: n.cfg.P2P.Listen, Bootstrap: n.cfg.P2P.Bootstrap,
			MDNS: n.cfg.P2P.MDNS, HighPeers: n.cfg.P2P.MaxPeers, LowPeers: n.cfg.P2P.MaxPeers / 2,
			Logger: n.logger, Metrics: p2pMetrics{n.metrics},
		}, e.net)
		if err != nil {
			return nil, err
		}
		e.net.host = host
		n.net = e.net
	}
	if n.role == RoleValidator && e.plan == (startPlan{}) {
		if err := e.startDriver(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// startDriver builds the driver from the ledger and the consensus state
// as they are now and hands it to the network.
func (e *parts) startDriver() error {
	n := e.n
	if e.net != nil {
		// No block applied by the network alone after the driver read the height.
		e.net.applyMu.Lock()
		defer e.net.applyMu.Unlock()
	}
	var tr driver.Transport = noTransport{}
	if e.net != nil {
		tr = e.net
	}
	_, _, tipTime := n.app.Tip()
	d, err := driver.New(driver.Config{
		Genesis:       n.cfg.Genesis,
		Key:           n.cfg.Key,
		Storage:       e.state,
		Height:        n.ledger.Height(),
		LastBlockTime: time.UnixMilli(tipTime),
		Clock:         driver.ClockFunc(n.cfg.Clock),
		Logger:        n.logger,
		Metrics:       driverMetrics{n.metrics},
		OnBehind: func(uint64) {
			if e.net != nil {
				e.net.poke()
			}
		},
	}, n.app, tr)
	if err != nil {
		return fmt.Errorf("consensus driver: %w", err)
	}
	e.driver = d
	if e.net != nil {
		e.net.driver.Store(d)
	}
	return nil
}

// Ready is closed once the node may serve its API and sign: at once, or
// when the start-up recovery has ended.
func (e *parts) Ready() <-chan struct{} { return e.ready }

// Run runs the network and, once the start-up recovery is done, the driver,
// until ctx ends.
func (e *parts) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	if e.net != nil {
		g.Go(func() error { return e.net.host.Run(ctx) })
		g.Go(func() error { return e.net.run(ctx) })
	}
	g.Go(func() error {
		if e.n.role == RoleValidator && e.driver == nil {
			if err := e.recover(ctx); err != nil || ctx.Err() != nil {
				return err
			}
		}
		close(e.ready)
		if e.driver != nil {
			return e.driver.Run(ctx)
		}
		<-ctx.Done()
		return nil
	})
	return g.Wait()
}

// noTransport is the network of a lone validator.
type noTransport struct{}

func (noTransport) Broadcast(*consensus.Message) {}
func (noTransport) Pull(uint64)                  {}

// driverMetrics reports consensus measures to Prometheus.
type driverMetrics struct{ m *Metrics }

func (d driverMetrics) Height(uint64)      {}
func (d driverMetrics) Round(r uint32)     { d.m.ConsensusRound.Set(float64(r)) }
func (d driverMetrics) RoundChanges(n int) { d.m.ConsensusRounds.Add(float64(n)) }
func (d driverMetrics) Evidence(n int)     { d.m.Evidence.Set(float64(n)) }

// gossip sends accepted transactions to peers (in batches, see outbox).
func (n *Node) gossip(txs ...[]byte) {
	if n.net != nil && len(txs) > 0 {
		n.net.outbox.add(txs...)
	}
}

func (n *Node) peers() int {
	if n.net == nil {
		return 0
	}
	return n.net.host.Peers()
}

func (n *Node) behind() uint64 {
	if n.net == nil {
		return 0
	}
	t, _ := n.net.host.PeerHeight()
	return max(t, n.ledger.Height()) - n.ledger.Height()
}

// P2PAddr returns the node's first libp2p address with its peer id, or "".
func (n *Node) P2PAddr() string {
	if n.net == nil {
		return ""
	}
	if a := n.net.host.Addrs(); len(a) > 0 {
		return a[0]
	}
	return ""
}

// p2pMetrics reports the network's measures to Prometheus.
type p2pMetrics struct{ m *Metrics }

func (p p2pMetrics) Peers(n int)           { p.m.Peers.Set(float64(n)) }
func (p p2pMetrics) Rejected(topic string) { p.m.GossipRejected.WithLabelValues(topic).Inc() }

// connectPeers dials every devnet node from every other, so that the
// devnet needs no discovery.
func (d *Devnet) connectPeers() {
	if len(d.Nodes) < 2 {
		return
	}
	for i, a := range d.Nodes {
		for _, b := range d.Nodes[i+1:] {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := a.net.host.Connect(ctx, b.P2PAddr()); err != nil {
				d.cfg.Logger.Warn("devnet peers not connected", "err", err)
			}
			cancel()
		}
	}
}
