package ballot

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"

	"github.com/cocorico/node/ballot/seal"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// Cast is a voter's vote in a ballot, signed with a one-time voter key that
// the registrar's token vouches for. docs/PROTOCOL.md §Cast.
type Cast struct {
	BallotID consensus.Hash `cbor:"1,keyasint" json:"ballot_id"`
	// Voter is the one-time Ed25519 public key of the voter for this ballot.
	Voter []byte `cbor:"2,keyasint" json:"voter"`
	// Seq orders a voter key's casts: a later cast has a higher seq and,
	// where the ballot allows re-voting, replaces the earlier one.
	Seq uint64 `cbor:"3,keyasint" json:"seq"`
	// Choice is the index of the chosen label in the ballot's choices;
	// 0, and ignored, in a sealed ballot.
	Choice uint32 `cbor:"4,keyasint" json:"choice"`
	// Registrar is the index of the registrar whose key signed the token.
	Registrar   uint8  `cbor:"5,keyasint" json:"registrar"`
	TokenPrefix []byte `cbor:"6,keyasint" json:"token_prefix"`
	Token       []byte `cbor:"7,keyasint" json:"token"`
	// Sealed is the choice of a sealed ballot encrypted to its election
	// key (seal.SealedSize bytes, docs/PROTOCOL.md §19.3); absent in an
	// open ballot.
	Sealed    []byte `cbor:"8,keyasint,omitempty" json:"sealed,omitempty"`
	Signature []byte `cbor:"9,keyasint,omitempty" json:"signature"`
}

// DomainCast separates voter signatures from every other signature.
const DomainCast = "cocorico/v1/cast"

// SignBytes returns "cocorico/v1/cast" ‖ canonical {1: the chain's genesis
// hash, 2: the cast without its signature}. Every node builds them for
// every cast it verifies, so they are written field by field here (what
// canon.MustMarshal(castSignDoc{...}) writes, through reflection, in
// about 2.5 times the time: BenchmarkCastSignBytes); a test holds the two
// equal, a fuzz target too, and another fails when Cast gains a field
// that this function would have to write.
func (c *Cast) SignBytes(chain consensus.Chain) []byte {
	// The bytes, and at most 10 of key and head for each of the 12 items.
	n := len(DomainCast) + 2*len(chain.Genesis) + len(c.Voter) + len(c.TokenPrefix) + len(c.Token) + len(c.Sealed) + 120
	dst := append(make([]byte, 0, n), DomainCast...)
	dst = canon.AppendHead(dst, canon.MajorMap, 2)
	dst = appendBytesField(dst, 1, chain.Genesis[:])
	dst = append(dst, 2)
	fields := uint64(7)
	if len(c.Sealed) > 0 {
		fields++
	}
	dst = canon.AppendHead(dst, canon.MajorMap, fields)
	dst = appendBytesField(dst, 1, c.BallotID[:])
	dst = appendBytesField(dst, 2, c.Voter)
	dst = appendUintField(dst, 3, c.Seq)
	dst = appendUintField(dst, 4, uint64(c.Choice))
	dst = appendUintField(dst, 5, uint64(c.Registrar))
	dst = appendBytesField(dst, 6, c.TokenPrefix)
	dst = appendBytesField(dst, 7, c.Token)
	if len(c.Sealed) > 0 {
		dst = appendBytesField(dst, 8, c.Sealed)
	}
	return dst
}

// appendBytesField appends map key k (< 24) and b as a byte string, or
// null where b is nil (how the encoder writes a nil slice).
func appendBytesField(dst []byte, k byte, b []byte) []byte {
	dst = append(dst, k)
	if b == nil {
		return append(dst, 0xf6)
	}
	return append(canon.AppendHead(dst, canon.MajorBytes, uint64(len(b))), b...)
}

// appendUintField appends map key k (< 24) and the unsigned integer v.
func appendUintField(dst []byte, k byte, v uint64) []byte {
	return canon.AppendHead(append(dst, k), canon.MajorUint, v)
}

// Sign sets the voter key and signs c with it.
func (c *Cast) Sign(chain consensus.Chain, key ed25519.PrivateKey) {
	c.Voter = key.Public().(ed25519.PublicKey)
	c.Signature = ed25519.Sign(key, c.SignBytes(chain))
}

// ID returns the cast id: the id of the transaction holding c.
func (c *Cast) ID() consensus.Hash { return (&Tx{Cast: c}).ID() }

// ShareWith makes c's token, signature, sealed choice and voter key views
// of data, the encoding c was decoded from, instead of copies of it: a
// cast kept beside its encoding (a mempool's, thousands of them) then
// holds those bytes once; they are ~400 of its ~500. A field not found in
// data keeps its copy. Each view's capacity ends with it, so an append to
// it copies; data must not change afterwards.
func (c *Cast) ShareWith(data []byte) {
	for _, f := range []*[]byte{&c.Token, &c.Signature, &c.Sealed, &c.Voter} {
		if len(*f) == 0 {
			continue
		}
		if i := bytes.Index(data, *f); i >= 0 {
			*f = data[i : i+len(*f) : i+len(*f)]
		}
	}
}

// VoterKey is a voter's one-time public key as a comparable value.
type VoterKey [ed25519.PublicKeySize]byte

// Key returns c.Voter as a VoterKey; c must have passed CheckSyntax.
func (c *Cast) Key() VoterKey {
	var k VoterKey
	copy(k[:], c.Voter)
	return k
}

// CheckSyntax applies the rules that need nothing but the cast: field
// sizes and ranges.
func (c *Cast) CheckSyntax() error {
	switch {
	case c.BallotID.IsZero():
		return fmt.Errorf("%w: no ballot id", ErrCastInvalid)
	case len(c.Voter) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: voter key of %d bytes, want %d", ErrCastInvalid, len(c.Voter), ed25519.PublicKeySize)
	case c.Seq == 0:
		return fmt.Errorf("%w: seq 0, want at least 1", ErrCastInvalid)
	case len(c.TokenPrefix) != TokenPrefixSize:
		return fmt.Errorf("%w: token prefix of %d bytes, want %d", ErrCastInvalid, len(c.TokenPrefix), TokenPrefixSize)
	case len(c.Token) != KeyBits2048/8 && len(c.Token) != KeyBits3072/8:
		return fmt.Errorf("%w: token of %d bytes, want 256 or 384", ErrCastInvalid, len(c.Token))
	case len(c.Signature) != ed25519.SignatureSize:
		return fmt.Errorf("%w: signature of %d bytes, want %d", ErrCastInvalid, len(c.Signature), ed25519.SignatureSize)
	case c.Sealed != nil && (len(c.Sealed) != seal.SealedSize || c.Choice != 0):
		return fmt.Errorf("%w: %d bytes with choice %d, want %d bytes with choice 0", ErrSealedInvalid, len(c.Sealed), c.Choice, seal.SealedSize)
	case c.Choice >= MaxChoices:
		return fmt.Errorf("%w: %d", ErrChoiceOutOfRange, c.Choice)
	}
	return nil
}

// Verify applies every rule that does not depend on the chain's changing
// state: syntax, the choice and registrar against the ballot, the token
// under the registrar's key, and the voter's signature. This is the costly
// check (one RSA and one Ed25519 verification) that a node does once per cast.
func (c *Cast) Verify(chain consensus.Chain, b *Ballot) error {
	if err := c.verifyAllButSignature(chain, b); err != nil {
		return err
	}
	if !consensus.VerifyEd25519(c.Voter, c.SignBytes(chain), c.Signature) {
		return ErrVoterSignature
	}
	return nil
}

// verifyAllButSignature is Verify but for the voter's signature.
func (c *Cast) verifyAllButSignature(chain consensus.Chain, b *Ballot) error {
	if err := c.CheckSyntax(); err != nil {
		return err
	}
	if c.BallotID != b.ID {
		return fmt.Errorf("%w: cast for ballot %s checked against %s", ErrUnknownBallot, c.BallotID.Short(), b.ID.Short())
	}
	if int(c.Choice) >= len(b.Def.Choices) {
		return fmt.Errorf("%w: choice %d of %d", ErrChoiceOutOfRange, c.Choice, len(b.Def.Choices))
	}
	switch {
	case b.Def.Tally == TallySealed && c.Sealed == nil:
		return fmt.Errorf("%w: no sealed choice in a cast of a sealed ballot", ErrSealedInvalid)
	case b.Def.Tally != TallySealed && c.Sealed != nil:
		return fmt.Errorf("%w: a sealed choice in a cast of an open ballot", ErrSealedInvalid)
	}
	if int(c.Registrar) >= len(b.Keys) {
		return fmt.Errorf("%w: registrar %d of %d", ErrUnknownRegistrar, c.Registrar, len(b.Keys))
	}
	if err := b.verifyToken(c.Registrar, c.Voter, c.TokenPrefix, c.Token); err != nil {
		return err
	}
	if c.Sealed != nil {
		if err := seal.VerifySealed(c.Sealed, c.sealContext(chain)); err != nil {
			return fmt.Errorf("%w: %v", ErrSealedInvalid, err)
		}
	}
	return nil
}

// sealContext is the context that binds a sealed choice to this cast.
func (c *Cast) sealContext(chain consensus.Chain) seal.Context {
	return seal.Context{Info: SealedInfo(chain, c.BallotID), Voter: c.Voter, Seq: c.Seq}
}

// Seal sets c's sealed choice: choice encrypted to the election key (from
// the ballot's keyring) and bound to this cast's ballot, voter key and
// seq, which must be set. It is what cocorico vote and the browser call
// before signing. docs/PROTOCOL.md §19.3.
func (c *Cast) Seal(rnd io.Reader, chain consensus.Chain, electionKey []byte, choice uint32) error {
	if choice >= MaxChoices {
		return fmt.Errorf("%w: %d", ErrChoiceOutOfRange, choice)
	}
	s, err := seal.SealChoice(rnd, electionKey, c.sealContext(chain), uint8(choice))
	if err != nil {
		return err
	}
	c.Sealed, c.Choice = s, 0
	return nil
}
