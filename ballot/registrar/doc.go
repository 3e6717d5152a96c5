// Package registrar is the registrar's rules, pure: the voter roll (CSV
// parsing, codes kept as salted Argon2id hashes, a decoy hash so that an
// unknown voter id costs and answers as a wrong code), the rules of
// issuance (checks before the code, one blind signature per voter per
// ballot, the very same request answered again), the per-ballot keys, and
// the throttle of wrong codes per voter id and per client address (a state
// machine with time as an argument and bounded tables).
//
// The service that checks, signs, records and throttles is node/issuer; it
// is served over HTTP by api/registrarapi and stores in store.Registry.
// This package reads no clock, does no I/O and starts no goroutine; it
// imports ballot and consensus only.
package registrar
