package ballot

import (
	"fmt"

	"github.com/cocorico/node/consensus"
)

// Ballots finds a ballot by id. State and Batch implement it.
type Ballots interface {
	Ballot(id consensus.Hash) (b *Ballot, found bool, err error)
}

// CheckTx decodes transaction bytes (at most max of them) and applies every
// stateless rule: for a definition its own checks, for a cast its
// verification against the ballot it names, found in ballots.
func CheckTx(chainID string, data []byte, max int, ballots Ballots) (*Checked, error) {
	tx, err := DecodeTx(data, max)
	if err != nil {
		return nil, err
	}
	return Check(chainID, tx, data, ballots)
}

// Check applies the stateless rules to a decoded transaction whose
// canonical bytes are data.
func Check(chainID string, tx *Tx, data []byte, ballots Ballots) (*Checked, error) {
	id := TxID(data)
	if tx.Definition != nil {
		b, err := tx.Definition.Check(chainID)
		if err != nil {
			return nil, err
		}
		return &Checked{ID: id, Bytes: data, Ballot: b}, nil
	}
	c := tx.Cast
	if err := c.CheckSyntax(); err != nil {
		return nil, err
	}
	b, found, err := ballots.Ballot(c.BallotID)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w %s", ErrUnknownBallot, c.BallotID.Short())
	}
	if err := c.Verify(chainID, b); err != nil {
		return nil, err
	}
	return &Checked{ID: id, Bytes: data, Cast: c}, nil
}
