package consensus

import (
	"crypto/ed25519"
	"fmt"
)

// Validator is one authority of the chain, with equal voting power.
type Validator struct {
	Name   string            `cbor:"1,keyasint" json:"name"`
	PubKey ed25519.PublicKey `cbor:"2,keyasint" json:"pub_key"`
}

// ValidatorSet is the ordered list of validators named in the genesis. A
// validator is known by its index in it. The set never changes in this
// version of the protocol.
type ValidatorSet struct {
	vals []Validator
}

// NewValidatorSet checks and wraps vals (1 to MaxValidators, distinct
// 32-byte keys).
func NewValidatorSet(vals []Validator) (*ValidatorSet, error) {
	if len(vals) == 0 || len(vals) > MaxValidators {
		return nil, fmt.Errorf("%w: %d validators, want 1 to %d", ErrGenesisInvalid, len(vals), MaxValidators)
	}
	seen := make(map[string]bool, len(vals))
	for i, v := range vals {
		if len(v.PubKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: validator %d: key of %d bytes", ErrGenesisInvalid, i, len(v.PubKey))
		}
		if seen[string(v.PubKey)] {
			return nil, fmt.Errorf("%w: validator %d: duplicate key", ErrGenesisInvalid, i)
		}
		seen[string(v.PubKey)] = true
	}
	return &ValidatorSet{vals: append([]Validator(nil), vals...)}, nil
}

// MaxValidators bounds the validator set; indexes fit in a uint16.
const MaxValidators = 256

// Size returns the number of validators.
func (s *ValidatorSet) Size() int { return len(s.vals) }

// Quorum returns the smallest number of validators that is more than two
// thirds of them: floor(2n/3) + 1.
func (s *ValidatorSet) Quorum() int { return 2*len(s.vals)/3 + 1 }

// Weak returns f + 1, the smallest number of validators that surely holds
// one correct validator when at most f = floor((n-1)/3) are faulty.
func (s *ValidatorSet) Weak() int { return (len(s.vals)-1)/3 + 1 }

// Get returns the validator at index i.
func (s *ValidatorSet) Get(i uint16) (Validator, bool) {
	if int(i) >= len(s.vals) {
		return Validator{}, false
	}
	return s.vals[i], true
}

// IndexOf returns the index of the validator with key pub.
func (s *ValidatorSet) IndexOf(pub ed25519.PublicKey) (uint16, bool) {
	for i, v := range s.vals {
		if v.PubKey.Equal(pub) {
			return uint16(i), true
		}
	}
	return 0, false
}

// Proposer returns the index of the proposer of (height, round): validators
// take turns by height, and within a height by round.
func (s *ValidatorSet) Proposer(height uint64, round uint32) uint16 {
	return uint16((height + uint64(round)) % uint64(len(s.vals)))
}

// All returns a copy of the validators in index order.
func (s *ValidatorSet) All() []Validator { return append([]Validator(nil), s.vals...) }

// verify checks sig by validator i over msg.
func (s *ValidatorSet) verify(i uint16, msg, sig []byte) error {
	v, ok := s.Get(i)
	if !ok {
		return fmt.Errorf("%w: index %d of %d", ErrUnknownValidator, i, len(s.vals))
	}
	if !VerifyEd25519(v.PubKey, msg, sig) {
		return fmt.Errorf("bad signature of validator %d (%s)", i, v.Name)
	}
	return nil
}
