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
func CheckTx(r Rules, data []byte, max int, ballots Ballots) (*Checked, error) {
	tx, err := DecodeTx(data, max)
	if err != nil {
		return nil, err
	}
	return Check(r, tx, data, ballots)
}

// Check applies the stateless rules to a decoded transaction whose
// canonical bytes are data.
func Check(r Rules, tx *Tx, data []byte, ballots Ballots) (*Checked, error) {
	id := TxID(data)
	if tx.Definition != nil {
		b, err := tx.Definition.Check(r)
		if err != nil {
			return nil, err
		}
		return &Checked{ID: id, Bytes: data, Ballot: b}, nil
	}
	if tx.Cast == nil {
		return checkKeykeeperTx(r, tx, id, data, ballots)
	}
	c := tx.Cast
	b, err := castBallot(c, ballots)
	if err != nil {
		return nil, err
	}
	if err := c.Verify(r.Chain, b); err != nil {
		return nil, err
	}
	return &Checked{ID: id, Bytes: data, Cast: c}, nil
}

// castBallot applies a cast's syntax rules and finds its ballot.
func castBallot(c *Cast, ballots Ballots) (*Ballot, error) {
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
	return b, nil
}

// CheckBatch is Check for many transactions at once (txs[i] decoded from
// data[i]), with the same verdicts: the voters' signatures are checked as
// one Ed25519 batch, at about half the cost of one by one, and a bad one
// among them is still found and named. Definitions are checked one by
// one, against ballots only.
func CheckBatch(r Rules, txs []*Tx, data [][]byte, ballots Ballots) ([]*Checked, []error) {
	out := make([]*Checked, len(txs))
	errs := make([]error, len(txs))
	sigs := consensus.NewEd25519Batch(len(txs))
	at := make([]int, 0, len(txs))
	for i, tx := range txs {
		if tx.Cast == nil {
			out[i], errs[i] = Check(r, tx, data[i], ballots)
			continue
		}
		c := tx.Cast
		b, err := castBallot(c, ballots)
		if err == nil {
			err = c.verifyAllButSignature(r.Chain, b)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		sigs.Add(c.Voter, c.SignBytes(r.Chain), c.Signature)
		at = append(at, i)
	}
	for k, ok := range sigs.Verify() {
		i := at[k]
		if !ok {
			errs[i] = ErrVoterSignature
			continue
		}
		out[i] = &Checked{ID: TxID(data[i]), Bytes: data[i], Cast: txs[i].Cast}
	}
	return out, errs
}

// checkKeykeeperTx applies the stateless rules to a deal, complaint,
// answer or share.
func checkKeykeeperTx(r Rules, tx *Tx, id consensus.Hash, data []byte, ballots Ballots) (*Checked, error) {
	var err error
	switch {
	case tx.Deal != nil:
		err = tx.Deal.Verify(r.Chain, ballots)
	case tx.Complaint != nil:
		err = tx.Complaint.Verify(r.Chain, ballots)
	case tx.Share != nil:
		err = tx.Share.Verify(r.Chain, ballots)
	case tx.Answer != nil:
		err = tx.Answer.Verify(r.Chain, ballots)
	default:
		err = fmt.Errorf("%w: an empty transaction", ErrMalformed)
	}
	if err != nil {
		return nil, err
	}
	return &Checked{ID: id, Bytes: data, Deal: tx.Deal, Complaint: tx.Complaint, Share: tx.Share, Answer: tx.Answer}, nil
}
