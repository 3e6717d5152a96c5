package ballot

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"io"

	"github.com/cloudflare/circl/blindsign/blindrsa"

	"github.com/cocorico/node/consensus"
)

// A token is the registrar's RSA blind signature (RFC 9474,
// RSABSSA-SHA384-PSS-Randomized) over the token message of one ballot and
// one voter key. Once unblinded it is an ordinary RSASSA-PSS signature
// (SHA-384, MGF1-SHA-384, salt 48 bytes) over prefix ‖ message.
// docs/PROTOCOL.md §Token.

// DomainToken starts every token message.
const DomainToken = "cocorico/v1/token"

// TokenPrefixSize is the random prefix of RFC 9474's randomized variants.
const TokenPrefixSize = 32

// tokenVariant is the one RFC 9474 variant the protocol uses.
const tokenVariant = blindrsa.SHA384PSSRandomized

var pssOptions = rsa.PSSOptions{SaltLength: 48, Hash: crypto.SHA384}

// TokenMessage returns "cocorico/v1/token" ‖ ballot id ‖ voter public key.
func TokenMessage(ballotID consensus.Hash, voter ed25519.PublicKey) []byte {
	m := make([]byte, 0, len(DomainToken)+consensus.HashSize+ed25519.PublicKeySize)
	m = append(m, DomainToken...)
	m = append(m, ballotID[:]...)
	return append(m, voter...)
}

// Token is an unblinded token: the random prefix and the signature.
type Token struct {
	Prefix    []byte
	Signature []byte
}

// TokenRequest is the voter's side of one blind-signature exchange.
type TokenRequest struct {
	// Blinded is the message to send to the registrar.
	Blinded []byte
	client  blindrsa.Client
	state   blindrsa.State
	prefix  []byte
}

// NewTokenRequest prepares and blinds the token message for ballotID and
// voter under the registrar key (RFC 9474 §4.1, §4.2).
func NewTokenRequest(rng io.Reader, key *rsa.PublicKey, ballotID consensus.Hash, voter ed25519.PublicKey) (*TokenRequest, error) {
	c, err := blindrsa.NewClient(tokenVariant, key)
	if err != nil {
		return nil, err
	}
	prepared, err := c.Prepare(rng, TokenMessage(ballotID, voter))
	if err != nil {
		return nil, fmt.Errorf("prepare token: %w", err)
	}
	blinded, state, err := c.Blind(rng, prepared)
	if err != nil {
		return nil, fmt.Errorf("blind token: %w", err)
	}
	return &TokenRequest{Blinded: blinded, client: c, state: state, prefix: prepared[:TokenPrefixSize]}, nil
}

// Finalize unblinds the registrar's blind signature (RFC 9474 §4.4) and
// checks it; a registrar that signed something else is caught here.
func (r *TokenRequest) Finalize(blindSig []byte) (Token, error) {
	sig, err := r.client.Finalize(r.state, blindSig)
	if err != nil {
		return Token{}, fmt.Errorf("%w: finalize: %v", ErrTokenInvalid, err)
	}
	return Token{Prefix: append([]byte(nil), r.prefix...), Signature: sig}, nil
}

// BlindSign is the registrar's side (RFC 9474 §4.3): it signs a blinded
// message without learning what it hides. Preparing the key costs little
// beside the signature (BenchmarkBlindSignFromKey ≈ BenchmarkBlindSign).
func BlindSign(key *rsa.PrivateKey, blinded []byte) ([]byte, error) {
	s, err := NewBlindSigner(key)
	if err != nil {
		return nil, err
	}
	return s.Sign(blinded)
}

// VerifyToken checks a token as the ordinary RSASSA-PSS signature it is,
// with the standard library, over prefix ‖ TokenMessage(ballotID, voter).
// A ballot's casts are checked by Ballot.verifyToken, the same verdict
// with the key's modulus prepared once.
func VerifyToken(key *rsa.PublicKey, ballotID consensus.Hash, voter ed25519.PublicKey, prefix, sig []byte) error {
	return checkToken(key.Size(), prefix, sig, func() bool {
		return rsa.VerifyPSS(key, crypto.SHA384, tokenDigest(ballotID, voter, prefix), sig, &pssOptions) == nil
	})
}

// checkToken applies a token's size rules, then verify.
func checkToken(size int, prefix, sig []byte, verify func() bool) error {
	if len(prefix) != TokenPrefixSize {
		return fmt.Errorf("%w: prefix of %d bytes, want %d", ErrTokenInvalid, len(prefix), TokenPrefixSize)
	}
	if len(sig) != size {
		return fmt.Errorf("%w: signature of %d bytes, want %d", ErrTokenInvalid, len(sig), size)
	}
	if !verify() {
		return fmt.Errorf("%w: not the registrar's signature over this ballot and voter key", ErrTokenInvalid)
	}
	return nil
}

// verifyToken is VerifyToken against the ballot's registrar i (which must
// exist), with the key prepared when the ballot was parsed.
func (b *Ballot) verifyToken(i uint8, voter ed25519.PublicKey, prefix, sig []byte) error {
	if i := int(i); i < len(b.tokenKeys) {
		k := b.tokenKeys[i]
		return checkToken(k.size, prefix, sig, func() bool { return k.verify(tokenDigest(b.ID, voter, prefix), sig) })
	}
	return VerifyToken(b.Keys[i], b.ID, voter, prefix, sig)
}
