// Package consensus holds the chain types of the Cocorico node (header,
// block, vote, proposal, commit, validator set, genesis, RFC 6962 Merkle
// proofs) and the Tendermint BFT algorithm as a deterministic state machine.
//
// consensus orders opaque transactions: it knows nothing of ballots. It
// imports only the standard library, golang.org/x/crypto and its own
// sub-package canon; it reads no clock, does no I/O and starts no goroutine.
// docs/PROTOCOL.md is the normative description of every structure here.
package consensus
