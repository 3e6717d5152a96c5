package store

import "errors"

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
)
