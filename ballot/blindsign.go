package ballot

import (
	"crypto/rsa"
	"errors"
	"fmt"

	"filippo.io/bigmod"
)

// BlindSigner is a registrar's RSA key ready to blind-sign (RFC 9474
// §4.3, RSASP1 then the RSAVP1 check): the private operation uses the
// Chinese remainder theorem in constant time, with the constant-time
// modular arithmetic of Go's crypto/rsa (filippo.io/bigmod), about four
// times faster than a plain m^d mod n; every signature is checked with the
// public key before it leaves, so a fault in the computation (which with
// CRT would reveal a factor of n) never does. Safe for concurrent use.
type BlindSigner struct {
	size   int
	e      uint
	n      *bigmod.Modulus
	p, q   *bigmod.Modulus
	dP, dQ []byte
	qInv   *bigmod.Nat // q⁻¹ mod p
	qN     *bigmod.Nat // q as an element of Z/n
}

// ErrBlindedOutOfRange: the blinded message is not an integer below the
// modulus; no signature is made.
var ErrBlindedOutOfRange = errors.New("blinded message out of range")

// NewBlindSigner prepares key (two primes, its CRT values precomputed).
func NewBlindSigner(key *rsa.PrivateKey) (*BlindSigner, error) {
	if len(key.Primes) != 2 {
		return nil, fmt.Errorf("blind signer: a key of %d primes, want 2", len(key.Primes))
	}
	key.Precompute()
	if key.Precomputed.Dp == nil {
		return nil, errors.New("blind signer: the key has no CRT values")
	}
	n, err := bigmod.NewModulus(key.N.Bytes())
	if err != nil {
		return nil, err
	}
	p, err := bigmod.NewModulus(key.Primes[0].Bytes())
	if err != nil {
		return nil, err
	}
	q, err := bigmod.NewModulus(key.Primes[1].Bytes())
	if err != nil {
		return nil, err
	}
	qInv, err := bigmod.NewNat().SetBytes(key.Precomputed.Qinv.Bytes(), p)
	if err != nil {
		return nil, fmt.Errorf("blind signer: qinv: %w", err)
	}
	qN, err := bigmod.NewNat().SetBytes(key.Primes[1].Bytes(), n)
	if err != nil {
		return nil, err
	}
	if key.E < 3 {
		return nil, errors.New("blind signer: bad exponent")
	}
	return &BlindSigner{size: key.Size(), e: uint(key.E), n: n, p: p, q: q,
		dP: key.Precomputed.Dp.Bytes(), dQ: key.Precomputed.Dq.Bytes(), qInv: qInv, qN: qN}, nil
}

// Sign returns the blind signature of a blinded message (RFC 9474 §4.3):
// s = blinded^d mod n, checked by s^e mod n = blinded.
func (s *BlindSigner) Sign(blinded []byte) ([]byte, error) {
	if len(blinded) != s.size {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBlindedOutOfRange, len(blinded), s.size)
	}
	c, err := bigmod.NewNat().SetBytes(blinded, s.n)
	if err != nil {
		return nil, fmt.Errorf("%w: not below the modulus", ErrBlindedOutOfRange)
	}
	// Garner's CRT, as crypto/rsa: m1 = c^dP mod p, m2 = c^dQ mod q,
	// m = m2 + q·((m1 − m2)·q⁻¹ mod p).
	m := bigmod.NewNat().Mod(c, s.p)
	m.Exp(m, s.dP, s.p)
	t := bigmod.NewNat().Mod(c, s.q)
	t.Exp(t, s.dQ, s.q)
	m.Sub(bigmod.NewNat().Mod(t, s.p), s.p)
	m.Mul(s.qInv, s.p)
	m.ExpandFor(s.n).Mul(s.qN, s.n)
	m.Add(t.ExpandFor(s.n), s.n)
	// RSAVP1 check: a faulty signature must not leave.
	if bigmod.NewNat().ExpShortVarTime(m, s.e, s.n).Equal(c) != 1 {
		return nil, errors.New("blind signature failed its own check: not sent")
	}
	return m.Bytes(s.n), nil
}
