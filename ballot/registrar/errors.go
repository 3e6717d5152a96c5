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
	// ErrThrottled: too many wrong codes or failed logins for this voter
	// or from this address (on a node's API: too many refused
	// transactions from this address); the request was not checked.
	// Raised as a *RetryError.
	ErrThrottled = errors.New("too many attempts (wrong codes or secrets, or too many requests in a short time): try again later")
	// ErrOverloaded: every code check slot stayed busy for the longest
	// wait; the request was not checked. Raised as a *RetryError.
	ErrOverloaded = errors.New("registrar overloaded: try again later")
)

// Errors of the OpenID Connect login (docs/API.md, login). Their messages
// name the check that failed, never a claim's value.
var (
	// ErrLoginOff: this registrar has no OpenID Connect provider configured.
	ErrLoginOff = errors.New("this registrar has no login configured")
	// ErrLoginFailed: the login did not prove an identity: an unknown or
	// used state, a refusal by the provider, a code the provider would
	// not exchange, an ID token that fails a check (signature, issuer,
	// audience, expiry, nonce, acr).
	ErrLoginFailed = errors.New("login failed")
	// ErrNotEligible: the voter logged in but an eligibility rule on the
	// claims refused them.
	ErrNotEligible = errors.New("not eligible for this registrar's ballots")
	// ErrSessionInvalid: the session is unknown, expired, used already or
	// for another ballot.
	ErrSessionInvalid = errors.New("login session unknown, expired, used or for another ballot")
	// ErrReturnURL: the return URL is neither a loopback URL nor of an
	// origin this registrar serves.
	ErrReturnURL = errors.New("return URL not allowed")
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
