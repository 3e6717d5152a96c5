// Package p2p is the peer network of a node: a go-libp2p host (TCP and
// QUIC, Noise, the node key as identity, a connection manager and the
// resource manager), go-libp2p-pubsub gossipsub topics for casts,
// consensus messages, final blocks and volunteers' attestations and
// alarms, with a validator on each, peer
// scoring, request/response stream protocols for block sync and for state
// sync snapshots (the wire format of each heads sync.go and snapshot.go),
// and peer discovery (bootstrap peers and mDNS).
//
// A Host has a life of its own, from New to Close (Run closes it when it
// returns): the gossip router and every goroutine the host starts
// (subscription readers, bootstrap and mDNS dials, message pulls) run
// under it, and Close waits for them all.
//
// p2p knows chain types (consensus) and nothing of ballots: transactions
// are bytes it hands to the node's Handler. docs/OPERATIONS.md §Network
// documents ports, topics and scoring.
package p2p
