package consensus

import (
	"errors"
	"fmt"
)

// Evidence is proof that a validator equivocated: two votes it signed for
// the same height, round and type, for different blocks. Either vote
// alone is legitimate; the pair is misbehaviour.
type Evidence struct {
	VoteA *Vote `cbor:"1,keyasint" json:"vote_a"`
	VoteB *Vote `cbor:"2,keyasint" json:"vote_b"`
}

// Verify checks that e is real evidence: both votes by the same
// validator, for the same height, round and type, different blocks, and
// both signatures valid.
func (e *Evidence) Verify(chain Chain, vals *ValidatorSet) error {
	a, b := e.VoteA, e.VoteB
	if a == nil || b == nil {
		return errors.New("evidence: missing vote")
	}
	if a.Validator != b.Validator || a.Height != b.Height || a.Round != b.Round || a.Type != b.Type {
		return fmt.Errorf("evidence: votes of different validators or steps")
	}
	if a.BlockHash == b.BlockHash {
		return errors.New("evidence: the two votes agree")
	}
	if err := a.Verify(chain, vals); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if err := b.Verify(chain, vals); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	return nil
}
