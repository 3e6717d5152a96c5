package registrar

import (
	"errors"
	"time"
)

// Errors of issuance, each a clear answer to the voter.
var (
	// ErrNotAuthorized: the voter id is not on the roll, or the code is
	// not the voter's. One error for both, so that the answer never tells
	// who is on the roll (docs/API.md, registrar).
	ErrNotAuthorized = errors.New("unknown voter id or wrong code")
	// ErrAlreadyIssued: the voter already has a token for this ballot.
	ErrAlreadyIssued = errors.New("token already issued to this voter for this ballot")
	// ErrNotRegistrar: the ballot names no key of this registrar.
	ErrNotRegistrar = errors.New("this registrar holds no key of that ballot")
	// ErrRollInvalid: the roll file is malformed.
	ErrRollInvalid = errors.New("voter roll invalid")
	// ErrThrottled: too many wrong codes for this voter id or from this
	// address; the request was not checked. Raised as a *RetryError.
	ErrThrottled = errors.New("too many wrong codes: try again later")
	// ErrOverloaded: every code check slot stayed busy for the longest
	// wait; the request was not checked. Raised as a *RetryError.
	ErrOverloaded = errors.New("registrar overloaded: try again later")
)

// RetryError is a refusal that tells when to come back (the HTTP layer
// turns After into a Retry-After header).
type RetryError struct {
	Err   error // ErrThrottled or ErrOverloaded
	After time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }

// Unwrap lets errors.Is see the sentinel.
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter is how long the client should wait.
func (e *RetryError) RetryAfter() time.Duration { return e.After }
