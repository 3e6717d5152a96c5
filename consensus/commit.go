package consensus

import (
	"fmt"
	"slices"

	"github.com/cocorico/node/consensus/canon"
)

// Commit proves a block final: the precommits of more than two thirds of
// the validators for its hash in one round. docs/PROTOCOL.md §Commit.
type Commit struct {
	Height     uint64      `cbor:"1,keyasint" json:"height"`
	Round      uint32      `cbor:"2,keyasint" json:"round"`
	BlockHash  Hash        `cbor:"3,keyasint" json:"block_hash"`
	Signatures []CommitSig `cbor:"4,keyasint" json:"signatures"`
}

// CommitSig is one validator's precommit signature in a commit.
type CommitSig struct {
	Validator uint16 `cbor:"1,keyasint" json:"validator"`
	Signature []byte `cbor:"2,keyasint" json:"signature"`
}

// Verify checks that c commits block at height: the signers are validators
// in strictly increasing index order (so each counts once), every signature
// is a valid precommit for (height, round, block), and they are a quorum.
func (c *Commit) Verify(chain Chain, vals *ValidatorSet, height uint64, block Hash) error {
	if c.Height != height {
		return fmt.Errorf("%w: for height %d, want %d", ErrCommitInvalid, c.Height, height)
	}
	if c.BlockHash != block || block.IsZero() {
		return fmt.Errorf("%w: for block %s, want %s", ErrCommitInvalid, c.BlockHash.Short(), block.Short())
	}
	if len(c.Signatures) < vals.Quorum() {
		return fmt.Errorf("%w: %d signatures, quorum is %d of %d", ErrCommitInvalid, len(c.Signatures), vals.Quorum(), vals.Size())
	}
	if len(c.Signatures) > vals.Size() {
		return fmt.Errorf("%w: %d signatures for %d validators", ErrCommitInvalid, len(c.Signatures), vals.Size())
	}
	msg := VoteSignBytes(chain, Precommit, c.Height, c.Round, c.BlockHash)
	for i, s := range c.Signatures {
		if i > 0 && s.Validator <= c.Signatures[i-1].Validator {
			return fmt.Errorf("%w: signer %d after %d: want strictly increasing, distinct indexes", ErrCommitInvalid, s.Validator, c.Signatures[i-1].Validator)
		}
		if err := vals.verify(s.Validator, msg, s.Signature); err != nil {
			return fmt.Errorf("%w: %v", ErrCommitInvalid, err)
		}
	}
	return nil
}

// MaxCommitEncoding bounds a commit's encoding: 256 signatures and framing.
const MaxCommitEncoding = 32 << 10

// Encode returns the canonical bytes of c.
func (c *Commit) Encode() []byte { return canon.MustMarshal(c) }

// DecodeCommit decodes canonical commit bytes.
func DecodeCommit(data []byte) (*Commit, error) {
	var c Commit
	if err := canon.Unmarshal(data, &c, MaxCommitEncoding); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCommitInvalid, err)
	}
	return &c, nil
}

// NewCommit assembles a commit from precommits for one height, round and
// block, in increasing validator order. Duplicates of a validator are
// dropped; votes that do not match the first are an error. It does not
// verify signatures.
func NewCommit(precommits []*Vote) (*Commit, error) {
	if len(precommits) == 0 {
		return nil, fmt.Errorf("%w: no precommits", ErrCommitInvalid)
	}
	first := precommits[0]
	c := &Commit{Height: first.Height, Round: first.Round, BlockHash: first.BlockHash}
	sorted := slices.Clone(precommits)
	slices.SortFunc(sorted, func(a, b *Vote) int { return int(a.Validator) - int(b.Validator) })
	for _, v := range sorted {
		if v.Type != Precommit || v.Height != c.Height || v.Round != c.Round || v.BlockHash != c.BlockHash {
			return nil, fmt.Errorf("%w: %s h=%d r=%d for %s among precommits h=%d r=%d for %s",
				ErrCommitInvalid, v.Type, v.Height, v.Round, v.BlockHash.Short(), c.Height, c.Round, c.BlockHash.Short())
		}
		if n := len(c.Signatures); n > 0 && c.Signatures[n-1].Validator == v.Validator {
			continue
		}
		c.Signatures = append(c.Signatures, CommitSig{Validator: v.Validator, Signature: v.Signature})
	}
	return c, nil
}
