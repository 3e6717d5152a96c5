package consensus

import (
	"crypto/ed25519"
	"fmt"

	"github.com/cocorico/node/consensus/canon"
)

// VoteType is the step a vote belongs to.
type VoteType uint8

var _ fmt.Stringer = VoteType(0)

// The two kinds of vote of the Tendermint algorithm.
const (
	Prevote   VoteType = 1
	Precommit VoteType = 2
)

func (t VoteType) String() string {
	switch t {
	case Prevote:
		return "prevote"
	case Precommit:
		return "precommit"
	}
	return fmt.Sprintf("vote-type(%d)", uint8(t))
}

// Vote is a validator's signed prevote or precommit for a block hash at a
// height and round. The zero BlockHash is a vote for nil.
type Vote struct {
	Type      VoteType `cbor:"1,keyasint" json:"type"`
	Height    uint64   `cbor:"2,keyasint" json:"height"`
	Round     uint32   `cbor:"3,keyasint" json:"round"`
	BlockHash Hash     `cbor:"4,keyasint" json:"block_hash"`
	Validator uint16   `cbor:"5,keyasint" json:"validator"`
	Signature []byte   `cbor:"6,keyasint" json:"signature"`
}

// Domain separation strings of the signed messages (docs/PROTOCOL.md §Signatures).
const (
	DomainVote     = "cocorico/v1/vote"
	DomainProposal = "cocorico/v1/proposal"
)

type voteSignDoc struct {
	Genesis   Hash     `cbor:"1,keyasint"`
	Type      VoteType `cbor:"2,keyasint"`
	Height    uint64   `cbor:"3,keyasint"`
	Round     uint32   `cbor:"4,keyasint"`
	BlockHash Hash     `cbor:"5,keyasint"`
}

// VoteSignBytes returns the message a validator signs for a vote:
// "cocorico/v1/vote" ‖ canonical {genesis hash, type, height, round, block hash}.
func VoteSignBytes(chain Chain, t VoteType, height uint64, round uint32, block Hash) []byte {
	doc := canon.MustMarshal(voteSignDoc{chain.Genesis, t, height, round, block})
	return append([]byte(DomainVote), doc...)
}

// SignBytes returns the message v's signature covers.
func (v *Vote) SignBytes(chain Chain) []byte {
	return VoteSignBytes(chain, v.Type, v.Height, v.Round, v.BlockHash)
}

// Sign fills v.Signature with key's signature.
func (v *Vote) Sign(chain Chain, key ed25519.PrivateKey) {
	v.Signature = ed25519.Sign(key, v.SignBytes(chain))
}

// Verify checks v's type, its signer and its signature.
func (v *Vote) Verify(chain Chain, vals *ValidatorSet) error {
	if v.Type != Prevote && v.Type != Precommit {
		return fmt.Errorf("%w: %v", ErrVoteInvalid, v.Type)
	}
	if v.Height == 0 {
		return fmt.Errorf("%w: height 0", ErrVoteInvalid)
	}
	if err := vals.verify(v.Validator, v.SignBytes(chain), v.Signature); err != nil {
		return fmt.Errorf("%w: %s h=%d r=%d: %v", ErrVoteInvalid, v.Type, v.Height, v.Round, err)
	}
	return nil
}

// Proposal is the proposer's signed offer of a block for a height and
// round. POLRound is the round of the proof of lock that justifies
// re-proposing a block (validRound in the paper), or -1.
type Proposal struct {
	Height    uint64 `cbor:"1,keyasint" json:"height"`
	Round     uint32 `cbor:"2,keyasint" json:"round"`
	POLRound  int32  `cbor:"3,keyasint" json:"pol_round"`
	Block     Block  `cbor:"4,keyasint" json:"block"`
	Validator uint16 `cbor:"5,keyasint" json:"validator"`
	Signature []byte `cbor:"6,keyasint" json:"signature"`
}

type proposalSignDoc struct {
	Genesis   Hash   `cbor:"1,keyasint"`
	Height    uint64 `cbor:"2,keyasint"`
	Round     uint32 `cbor:"3,keyasint"`
	POLRound  int32  `cbor:"4,keyasint"`
	BlockHash Hash   `cbor:"5,keyasint"`
}

// SignBytes returns "cocorico/v1/proposal" ‖ canonical {genesis hash,
// height, round, pol round, block hash}.
func (p *Proposal) SignBytes(chain Chain) []byte {
	doc := canon.MustMarshal(proposalSignDoc{chain.Genesis, p.Height, p.Round, p.POLRound, p.Block.Hash()})
	return append([]byte(DomainProposal), doc...)
}

// Sign fills p.Signature with key's signature.
func (p *Proposal) Sign(chain Chain, key ed25519.PrivateKey) {
	p.Signature = ed25519.Sign(key, p.SignBytes(chain))
}

// Verify checks that p is signed by the proposer of its height and round
// and that its block claims the same height. The block's contents are the
// application's to judge.
func (p *Proposal) Verify(chain Chain, vals *ValidatorSet) error {
	validPOL := p.POLRound == -1 || p.POLRound >= 0 && int64(p.POLRound) < int64(p.Round)
	if p.Height == 0 || !validPOL {
		return fmt.Errorf("%w: proposal h=%d r=%d pol=%d", ErrVoteInvalid, p.Height, p.Round, p.POLRound)
	}
	if p.Block.Header.Height != p.Height {
		return fmt.Errorf("%w: proposal for height %d carries block %d", ErrVoteInvalid, p.Height, p.Block.Header.Height)
	}
	if want := vals.Proposer(p.Height, p.Round); p.Validator != want {
		return fmt.Errorf("%w: proposal h=%d r=%d by validator %d, proposer is %d", ErrVoteInvalid, p.Height, p.Round, p.Validator, want)
	}
	if err := vals.verify(p.Validator, p.SignBytes(chain), p.Signature); err != nil {
		return fmt.Errorf("%w: proposal h=%d r=%d: %v", ErrVoteInvalid, p.Height, p.Round, err)
	}
	return nil
}
