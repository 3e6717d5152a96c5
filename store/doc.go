// Package store is the only package that touches Pebble. It holds the
// ledger of a node (blocks, commits, the transaction index and the
// application's state, one synced batch per final block) and the
// registrar's issuance records (synced in groups: one batch for the
// records that arrive together, by a committer goroutine the Registry
// owns from OpenRegistry to Close). For state sync, a ledger can start
// from a restored state at a recent height and back-fill the blocks below
// it (restore.go), and a node keeps Pebble checkpoints of its ledger to
// serve that state to others (snapshot.go).
//
// store knows chain types (consensus) but nothing of ballots: the
// application hands it key-value writes. See docs/OPERATIONS.md for the
// files it keeps.
package store
