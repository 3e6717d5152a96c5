// Package app is the ballot application behind the consensus driver's
// interface (driver.Application, as CometBFT's ABCI application): the
// mempool and cast admission, proposals, the one block-verification path
// (verify.go, used by proposal checks, apply, block sync and the recount),
// and the apply of a final block to the ledger in one synced batch.
//
// It knows the ballot rules (package ballot), the chain types (consensus)
// and the ledger (store); nothing of the API or the network: its errors
// are ballot's and its own, which package api maps to codes in its one
// table. The node (package node) only wires it.
package app
