package consensus

import "errors"

// Errors a caller can decide on. Functions wrap them with context.
var (
	// ErrGenesisInvalid: a genesis file breaks a rule of docs/PROTOCOL.md §Genesis.
	ErrGenesisInvalid = errors.New("genesis invalid")
	// ErrBlockInvalid: a block's structure is wrong (tx root, count, chain id, sizes).
	ErrBlockInvalid = errors.New("block invalid")
	// ErrVoteInvalid: a vote or proposal is malformed or its signature is wrong.
	ErrVoteInvalid = errors.New("vote invalid")
	// ErrUnknownValidator: a signer index is not in the validator set.
	ErrUnknownValidator = errors.New("unknown validator")
	// ErrCommitInvalid: a commit is malformed, has a bad or duplicate
	// signature, or lacks a quorum.
	ErrCommitInvalid = errors.New("commit invalid")
)
