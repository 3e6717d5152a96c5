package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
	"github.com/cocorico/node/p2p"
)

// finality is what makes blocks final on this node: the consensus driver
// on a validator, the follower of the peer network on any node with peers
// (a volunteer, or a validator catching up), and the start-up recovery
// that comes before both on a validator. Run owns them all; Ready is
// closed once the node may serve its API and sign.
type finality struct {
	n      *Node
	driver *driver.Driver
	net    *peerNetwork
	state  driver.Storage // a validator's consensus state
	plan   startPlan
	ready  chan struct{} // closed once the node may serve and sign
	// stateSync: the node joins from a snapshot before it follows
	stateSync bool
}

// newFinality runs the start-up check, then builds the peer network when
// the node listens on one and, for a validator whose check needs no
// recovery, the driver.
func (n *Node) newFinality() (*finality, error) {
	e := &finality{n: n, ready: make(chan struct{})}
	if n.role == RoleValidator {
		st, err := driver.NewFileStorage(nil, n.cfg.Home.ConsensusDir())
		if err != nil {
			return nil, err
		}
		e.state = st
		if e.plan, err = n.planStart(st); err != nil {
			return nil, err
		}
		if !e.plan.fence {
			// A new validator's state is saved at once, before it catches
			// up (the driver does the same): a state lost later is seen,
			// even if it stops before its driver starts.
			if _, found, err := st.Load(); err != nil {
				return nil, err
			} else if !found {
				if err := st.Save(&consensus.HardState{}); err != nil {
					return nil, fmt.Errorf("consensus state: %w", err)
				}
			}
		}
	}
	if len(n.cfg.P2P.Listen) > 0 {
		e.net = newPeerNetwork(n)
		host, err := p2p.New(p2p.Config{
			Key: n.cfg.Key, Genesis: n.cfg.Genesis, Listen: n.cfg.P2P.Listen, Bootstrap: n.cfg.P2P.Bootstrap,
			MDNS: n.cfg.P2P.MDNS, HighPeers: n.cfg.P2P.MaxPeers, LowPeers: n.cfg.P2P.MaxPeers / 2,
			Logger: n.logger, Metrics: p2pMetrics{n.metrics}, OnSyncPeer: func(peer.ID) { e.net.poke() },
		}, e.net)
		if err != nil {
			return nil, err
		}
		e.net.host = host
		n.net = e.net
		registerSyncAnswers(n.reg, host)
		if n.snaps != nil {
			host.ServeSnapshots(&snapshotSource{n: n, manifests: map[uint64]*ballot.Manifest{}})
		}
		// A volunteer with an empty ledger joins by state sync: the
		// follower waits for it.
		e.stateSync = n.role == RoleVolunteer && !n.cfg.FullVerify && n.ledger.Height() == 0
		if !e.stateSync {
			close(e.net.joined)
		}
	}
	if n.role == RoleValidator && !e.plan.recovers() {
		if err := e.startDriver(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// startDriver builds the driver from the ledger and the consensus state
// as they are now and hands it to the network.
func (e *finality) startDriver() error {
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
func (e *finality) Ready() <-chan struct{} { return e.ready }

// Run runs the network and, once the start-up recovery is done, the driver,
// until ctx ends.
func (e *finality) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	if e.net != nil {
		g.Go(func() error { return e.net.run(ctx) })
	}
	g.Go(func() error {
		if e.stateSync {
			if err := e.net.stateSync(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, errNoSnapshot) {
					e.n.logger.Info("no snapshot to join from yet: replaying every block from genesis")
				} else {
					e.n.logger.Warn("state sync: replaying every block from genesis instead", "err", err)
				}
			}
			close(e.net.joined)
		}
		if l := e.n.ledger; e.net != nil && (!l.Whole() || l.VerifiedFrom() > 1) {
			g.Go(func() error {
				if !l.Whole() {
					e.net.backfill(ctx)
				}
				e.n.reverify(ctx)
				return nil
			})
		}
		ready := false
		if e.n.role == RoleValidator && e.driver == nil {
			if p := e.plan; p.refillTo == 0 && !p.fence {
				// Only catching up before it signs: the ledger holds every
				// final block it had, and the API serves them meanwhile.
				close(e.ready)
				ready = true
			}
			if err := e.recover(ctx); err != nil || ctx.Err() != nil {
				return err
			}
		}
		if !ready {
			close(e.ready)
		}
		if e.driver != nil {
			return e.driver.Run(ctx)
		}
		<-ctx.Done()
		return nil
	})
	return g.Wait()
}
