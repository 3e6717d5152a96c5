// Package node is the composition root of the Cocorico node: it reads the
// configuration and keys, opens the ledger, and wires the mempool, the
// application (the ballot state machine as the consensus engine sees it),
// the consensus driver, the peer network and the HTTP API; it owns their
// goroutines and stops them in order.
package node
