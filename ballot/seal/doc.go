// Package seal is the cryptography of sealed ballots (docs/PROTOCOL.md §19),
// composed from circl parts and nothing written by hand: the P-256 group of
// circl/group, Feldman verifiable secret sharing (circl/secretsharing),
// Schnorr proofs of knowledge of a discrete logarithm (circl/zk/dl, RFC
// 8235) and HPKE base mode with DHKEM(P-256, HKDF-SHA256), HKDF-SHA256 and
// AES-128-GCM (circl/hpke, RFC 9180).
//
// The one suite serves three purposes: a dealer encrypts each keykeeper's
// share of its polynomial to that keykeeper's HPKE key; a voter encrypts a
// choice to the election key, which is a P-256 point made by the key
// generation (so that the election secret, once recovered, is an HPKE
// private key as it stands); and the Schnorr proofs run in the same group.
//
// Like ballot, seal is pure: randomness is an io.Reader argument, and it
// starts no goroutine, reads no clock and does no I/O. It knows nothing of
// ballots: its callers give it the bytes that bind a message to its context.
package seal
