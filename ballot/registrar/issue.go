package registrar

import (
	"crypto/rsa"
	"crypto/sha256"
	"fmt"

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

// Request is a voter's token request.
type Request struct {
	Ballot  consensus.Hash
	VoterID string
	Code    string
	Blinded []byte
}

// Decision is the outcome of a request that may be answered.
type Decision struct {
	// New is true when the request is a first one: the issuance must be
	// recorded (durably) before the signature is sent.
	New      bool
	Issuance Issuance
	Key      *rsa.PrivateKey
}

// Decide applies the rules of issuance to a request, given the voter's
// code hash (nil if not on the roll), any earlier issuance to the voter
// for this ballot, the ballot, the registrar's keys (by the SHA-256 of
// their DER public key) and the time now (Unix ms). It signs nothing.
func Decide(req Request, code *CodeHash, prior *Issuance, b *ballot.Ballot, keys map[consensus.Hash]*rsa.PrivateKey, now int64) (*Decision, error) {
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
	if code == nil {
		return nil, ErrUnknownVoter
	}
	if !code.Matches(req.Code) {
		return nil, ErrWrongCode
	}
	bh := consensus.Hash(sha256.Sum256(req.Blinded))
	if prior != nil {
		if prior.BlindedHash == bh {
			return &Decision{New: false, Issuance: *prior, Key: key}, nil
		}
		return nil, ErrAlreadyIssued
	}
	return &Decision{New: true, Issuance: Issuance{BlindedHash: bh, Time: now}, Key: key}, nil
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
