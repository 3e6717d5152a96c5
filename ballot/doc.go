// Package ballot is the domain of the Cocorico node: ballot definitions,
// blind-signed voter tokens, casts, their validation rules, the tally state
// transition and receipts.
//
// ballot is pure: it starts no goroutine, reads no clock (block time is an
// argument), and touches no disk or socket; randomness is an io.Reader the
// caller hands in. It imports consensus (for the chain types) and crypto
// libraries, nothing else of the project. docs/PROTOCOL.md is normative.
package ballot
