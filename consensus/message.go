package consensus

import (
	"errors"
	"fmt"

	"github.com/cocorico/node/consensus/canon"
)

// Message is what validators gossip: exactly one of a proposal and a vote.
// Its canonical bytes are what the peer network carries.
type Message struct {
	Proposal *Proposal `cbor:"1,keyasint,omitempty"`
	Vote     *Vote     `cbor:"2,keyasint,omitempty"`
}

// Height is the height the message's proposal or vote is for.
func (m *Message) Height() uint64 {
	if m.Proposal != nil {
		return m.Proposal.Height
	}
	return m.Vote.Height
}

// Encode returns the canonical bytes of m.
func (m *Message) Encode() []byte { return canon.MustMarshal(m) }

// DecodeMessage decodes canonical message bytes of at most max bytes.
func DecodeMessage(data []byte, max int) (*Message, error) {
	var m Message
	if err := canon.Unmarshal(data, &m, max); err != nil {
		return nil, fmt.Errorf("%w: message: %v", ErrVoteInvalid, err)
	}
	if (m.Proposal == nil) == (m.Vote == nil) {
		return nil, fmt.Errorf("%w: a message holds exactly one of proposal and vote", ErrVoteInvalid)
	}
	return &m, nil
}

// PeekHeight reads the height of an encoded message (at most max bytes)
// without decoding the rest (a proposal's block) or checking anything:
// for a receiver to drop, before any check, a message of a height it has
// final. ok is false when data does not read as a message.
func PeekHeight(data []byte, max int) (height uint64, ok bool) {
	var m struct {
		Proposal *struct {
			Height uint64 `cbor:"1,keyasint"`
		} `cbor:"1,keyasint"`
		Vote *struct {
			Height uint64 `cbor:"2,keyasint"`
		} `cbor:"2,keyasint"`
	}
	if canon.Peek(data, &m, max) != nil || (m.Proposal == nil) == (m.Vote == nil) {
		return 0, false
	}
	if m.Proposal != nil {
		return m.Proposal.Height, true
	}
	return m.Vote.Height, true
}

// Verify checks that the message is signed by a validator (for a
// proposal, the proposer of its height and round) with a valid signature.
func (m *Message) Verify(chain Chain, vals *ValidatorSet) error {
	switch {
	case m.Proposal != nil && m.Vote == nil:
		return m.Proposal.Verify(chain, vals)
	case m.Vote != nil && m.Proposal == nil:
		return m.Vote.Verify(chain, vals)
	}
	return errors.New("consensus message: exactly one of proposal and vote")
}
