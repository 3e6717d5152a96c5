package ballot

import (
	"errors"
	"fmt"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// Tx is the envelope of every transaction of the chain: exactly one of its
// fields is set. A transaction's id is the SHA-256 of its canonical bytes:
// for a definition, that id is the ballot id; for a cast, the cast id.
type Tx struct {
	Definition *Definition `cbor:"1,keyasint,omitempty" json:"definition,omitempty"`
	Cast       *Cast       `cbor:"2,keyasint,omitempty" json:"cast,omitempty"`
	// The keykeepers' messages of a sealed ballot (docs/PROTOCOL.md §19).
	Deal      *Deal      `cbor:"3,keyasint,omitempty" json:"deal,omitempty"`
	Complaint *Complaint `cbor:"4,keyasint,omitempty" json:"complaint,omitempty"`
	Share     *KeyShare  `cbor:"5,keyasint,omitempty" json:"share,omitempty"`
	Answer    *Answer    `cbor:"6,keyasint,omitempty" json:"answer,omitempty"`
}

// kinds returns how many of t's fields are set.
func (t *Tx) kinds() int {
	n := 0
	for _, set := range []bool{t.Definition != nil, t.Cast != nil, t.Deal != nil, t.Complaint != nil, t.Share != nil, t.Answer != nil} {
		if set {
			n++
		}
	}
	return n
}

// MaxTxBytes bounds the encoding of any transaction, whatever the chain's
// own (lower) limit.
const MaxTxBytes = 64 << 10

// Encode returns the canonical bytes of t.
func (t *Tx) Encode() []byte { return canon.MustMarshal(t) }

// ID returns the SHA-256 of t's canonical bytes.
func (t *Tx) ID() consensus.Hash { return TxID(t.Encode()) }

// TxID returns the id of a transaction from its canonical bytes.
func TxID(txBytes []byte) consensus.Hash { return consensus.Sum(txBytes) }

// DecodeTx decodes canonical transaction bytes of at most max bytes and
// checks that exactly one field is set.
func DecodeTx(data []byte, max int) (*Tx, error) {
	if len(data) <= max {
		if t, ok := decodeCastTx(data); ok {
			return t, nil
		}
	}
	return decodeTxByReflection(data, max)
}

// decodeTxByReflection is DecodeTx by the canonical decoder alone: every
// transaction but a cast of the usual shape (decodeCastTx), and the
// reference that decoder is held to.
func decodeTxByReflection(data []byte, max int) (*Tx, error) {
	var t Tx
	if err := canon.Unmarshal(data, &t, max); err != nil {
		if errors.Is(err, canon.ErrTooLarge) {
			return nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if t.kinds() != 1 {
		return nil, fmt.Errorf("%w: a transaction holds exactly one of definition, cast, deal, complaint, answer and share", ErrMalformed)
	}
	return &t, nil
}
