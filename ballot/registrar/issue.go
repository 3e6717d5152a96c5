package registrar

import (
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"math/big"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// Issuance records that a voter received a token for a ballot: the hash of
// the blinded message signed, so that the very same request can be
// answered again (a retry after a lost answer) without a second token.
type Issuance struct {
	BlindedHash consensus.Hash `cbor:"1,keyasint"`
	Time        int64          `cbor:"2,keyasint"` // Unix ms, the registrar's clock
}

// Encode returns the canonical bytes of i, for storage.
func (i Issuance) Encode() []byte { return canon.MustMarshal(i) }

// DecodeIssuance reads a stored issuance.
func DecodeIssuance(data []byte) (Issuance, error) {
	var i Issuance
	err := canon.Unmarshal(data, &i, 128)
	return i, err
}

// Request is a voter's token request: a voter id and code of the roll,
// or a session minted by a login (docs/API.md, login), not both.
type Request struct {
	Ballot  consensus.Hash
	VoterID string
	Code    string
	Session string
	Blinded []byte
}

// MaxSessionBytes bounds a session id in a request.
const MaxSessionBytes = 128

// CheckRequest applies the rules of issuance that do not depend on the
// voter, given the ballot, the registrar's keys (by the SHA-256 of their
// DER public key) and the time now (Unix ms): the ballot is open, it names
// a key of this registrar, and the blinded message is a number below that
// key's modulus, of the key's size (RFC 9474 §4.2: BlindSign refuses any
// other). It returns the key to sign with; it signs nothing. These checks
// come before the code check, so a malformed request costs no slow hash.
func CheckRequest(req Request, b *ballot.Ballot, keys map[consensus.Hash]*rsa.PrivateKey, now int64) (*rsa.PrivateKey, error) {
	if req.Session != "" {
		if req.VoterID != "" || req.Code != "" || len(req.Session) > MaxSessionBytes {
			return nil, fmt.Errorf("%w: a session of at most %d bytes, without voter id or code", ballot.ErrMalformed, MaxSessionBytes)
		}
	} else if err := CheckVoterID(req.VoterID); err != nil {
		return nil, fmt.Errorf("%w: %v", ballot.ErrMalformed, err)
	}
	if err := ballot.CheckOpen(b.Def, now); err != nil {
		return nil, err
	}
	key, err := KeyFor(b, keys)
	if err != nil {
		return nil, err
	}
	if len(req.Blinded) != key.Size() {
		return nil, fmt.Errorf("%w: blinded message of %d bytes, want %d", ballot.ErrMalformed, len(req.Blinded), key.Size())
	}
	if new(big.Int).SetBytes(req.Blinded).Cmp(key.N) >= 0 {
		return nil, fmt.Errorf("%w: blinded message not below the key's modulus", ballot.ErrMalformed)
	}
	return key, nil
}

// Decide applies the one-token rule to an authorized request, given any
// earlier issuance to the voter for this ballot: a first request is new
// (sign it, then record it, then answer); the very same blinded message
// again is answered again (a retry after a lost answer); any other is
// refused with ErrAlreadyIssued.
func Decide(blinded []byte, prior *Issuance, now int64) (rec Issuance, isNew bool, err error) {
	bh := consensus.Hash(sha256.Sum256(blinded))
	if prior == nil {
		return Issuance{BlindedHash: bh, Time: now}, true, nil
	}
	if prior.BlindedHash == bh {
		return *prior, false, nil
	}
	return Issuance{}, false, ErrAlreadyIssued
}

// KeyFor returns this registrar's private key among the ballot's registrar keys.
func KeyFor(b *ballot.Ballot, keys map[consensus.Hash]*rsa.PrivateKey) (*rsa.PrivateKey, error) {
	for _, r := range b.Def.Registrars {
		if k, ok := keys[KeyID(r.Key)]; ok {
			return k, nil
		}
	}
	return nil, ErrNotRegistrar
}

// KeyID names a registrar key: SHA-256 of its DER public key.
func KeyID(der []byte) consensus.Hash { return consensus.Sum(der) }
