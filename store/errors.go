package store

import (
	"errors"
	"fmt"
)

// Errors a caller can decide on.
var (
	// ErrNotFound: no such block, commit or transaction.
	ErrNotFound = errors.New("not found")
	// ErrOtherChain: the directory holds the ledger of another chain.
	ErrOtherChain = errors.New("ledger belongs to another chain")
	// ErrCorrupt: a stored record does not decode; the ledger needs repair.
	ErrCorrupt = errors.New("ledger corrupt")
	// ErrClosed: the store was closed while a write waited.
	ErrClosed = errors.New("store closed")
	// ErrNotNext: a block was committed out of order.
	ErrNotNext = errors.New("block is not the next height")
	// ErrNotBackfilled: the block is below the base of a ledger restored
	// from a snapshot and has not been back-filled yet. It is also
	// ErrNotFound: a caller that only knows ErrNotFound asks a peer.
	ErrNotBackfilled = fmt.Errorf("%w: not back-filled yet", ErrNotFound)
	// ErrRestoreIncomplete: Open found the marker of a state restore that
	// did not finish (the node stopped during state sync); the state is
	// partial. Open again with Options.ResumeRestore and call BeginRestore
	// to redo the restore from scratch.
	ErrRestoreIncomplete = errors.New("ledger restore incomplete: the state sync was interrupted and the node will redo it")
)

// errRestoring: a block was committed while a state restore is under way
// or was interrupted (a caller's mistake, not a condition to decide on).
var errRestoring = errors.New("a state restore is under way: FinishRestore (or BeginRestore after an interrupted one) first")
