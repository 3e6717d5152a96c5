package ballot

import (
	"errors"
	"fmt"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// ReceiptVersion is the version of the receipt format this code writes.
const ReceiptVersion = 1

// MaxReceiptBytes bounds a receipt's JSON.
const MaxReceiptBytes = 256 << 10

// Receipt is a voter's proof that a cast is final: everything needed to
// check, with the genesis alone, that the cast is signed, that its token is
// valid under the ballot's registrar key, that it is in a block and that
// the block is final. docs/PROTOCOL.md §15.
type Receipt struct {
	Version int    `json:"version"`
	ChainID string `json:"chain_id"`
	// GenesisHash is the chain's identity: the verifier checks the
	// receipt against the genesis of that hash, and every signature in the
	// receipt binds it.
	GenesisHash consensus.Hash `json:"genesis_hash"`
	BallotID    consensus.Hash `json:"ballot_id"`
	// Ballot is the definition whose id is BallotID: it carries the
	// registrar keys the token is checked against.
	Ballot *Definition       `json:"ballot"`
	Cast   *Cast             `json:"cast"`
	CastID consensus.Hash    `json:"cast_id"`
	Height uint64            `json:"height"`
	Header consensus.Header  `json:"header"`
	Proof  consensus.Proof   `json:"proof"`
	Commit *consensus.Commit `json:"commit"`
}

// NewReceipt assembles a receipt from its parts.
func NewReceipt(def *Definition, c *Cast, h consensus.Header, p consensus.Proof, commit *consensus.Commit) *Receipt {
	return &Receipt{
		Version:     ReceiptVersion,
		ChainID:     h.ChainID,
		GenesisHash: def.GenesisHash,
		BallotID:    c.BallotID,
		Ballot:      def,
		Cast:        c,
		CastID:      c.ID(),
		Height:      h.Height,
		Header:      h,
		Proof:       p,
		Commit:      commit,
	}
}

// DecodeReceipt reads a receipt's JSON with the protocol's one strict
// decoder (docs/PROTOCOL.md §1): a receipt that could be read two ways
// (a key twice, a second form of a value) is refused, as are unknown
// fields, trailing data and oversize input.
func DecodeReceipt(data []byte) (*Receipt, error) {
	var r Receipt
	if err := canon.DecodeJSON(data, &r, MaxReceiptBytes); err != nil {
		if errors.Is(err, canon.ErrTooLarge) {
			return nil, fmt.Errorf("%w: receipt: %v", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("%w: receipt: %v", ErrMalformed, err)
	}
	return &r, nil
}

// ReceiptCheck is the outcome of one named check of a receipt.
type ReceiptCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Names of the receipt checks, in the order Verify runs them.
const (
	CheckVersion   = "version"
	CheckChain     = "chain"
	CheckBallot    = "ballot"
	CheckCast      = "cast"
	CheckToken     = "token"
	CheckSignature = "voter_signature"
	CheckBlockTime = "block_time"
	CheckInclusion = "inclusion"
	CheckCommit    = "commit"
)

// Verification is the outcome of verifying a receipt.
type Verification struct {
	Valid  bool           `json:"valid"`
	Checks []ReceiptCheck `json:"checks"`
}

// Failed returns the names of the checks that failed.
func (v *Verification) Failed() []string {
	var out []string
	for _, c := range v.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

var errMissing = errors.New("missing")

// Verify checks the receipt offline against the genesis g. Every check
// runs, each on its own, so that a tampered receipt names what is wrong.
// It reads no clock and contacts nobody.
func (r *Receipt) Verify(g *consensus.Genesis) *Verification {
	v := &Verification{}
	add := func(name string, err error, okDetail string) {
		c := ReceiptCheck{Name: name, OK: err == nil, Detail: okDetail}
		if err != nil {
			c.Detail = err.Error()
		}
		v.Checks = append(v.Checks, c)
	}

	if r.Version != ReceiptVersion {
		add(CheckVersion, fmt.Errorf("version %d, this verifier reads %d", r.Version, ReceiptVersion), "")
	} else {
		add(CheckVersion, nil, fmt.Sprintf("version %d", r.Version))
	}

	rules := NewRules(g)
	var err error
	switch {
	case r.ChainID != g.ChainID:
		err = fmt.Errorf("receipt for chain %q, genesis of %q", r.ChainID, g.ChainID)
	case r.GenesisHash != rules.Chain.Genesis:
		err = fmt.Errorf("receipt for genesis %s, this genesis is %s (another chain of the same name?)", r.GenesisHash, rules.Chain.Genesis)
	case r.Header.ChainID != g.ChainID:
		err = fmt.Errorf("header of chain %q, genesis of %q", r.Header.ChainID, g.ChainID)
	}
	add(CheckChain, err, fmt.Sprintf("chain %s, genesis %s", g.ChainID, rules.Chain.Genesis))

	b, err := r.checkBallot(rules)
	add(CheckBallot, err, fmt.Sprintf("ballot %s, organizer signature valid", r.BallotID))

	txBytes, err := r.checkCast()
	add(CheckCast, err, fmt.Sprintf("cast %s for ballot %s", r.CastID, r.BallotID))

	err = errMissing
	if b != nil && r.Cast != nil {
		err = r.checkToken(b)
	}
	add(CheckToken, err, "token is the registrar's blind signature over this ballot and voter key")

	err = errMissing
	if r.Cast != nil && r.Cast.CheckSyntax() == nil {
		err = nil
		if !consensus.VerifyEd25519(r.Cast.Voter, r.Cast.SignBytes(rules.Chain), r.Cast.Signature) {
			err = ErrVoterSignature
		}
	}
	add(CheckSignature, err, "cast signed by its voter key")

	err = errMissing
	if r.Ballot != nil {
		err = CheckOpen(r.Ballot, r.Header.Time)
	}
	add(CheckBlockTime, err, "block time within the ballot's opening hours")

	err = errMissing
	if txBytes != nil {
		err = r.checkInclusion(txBytes)
	}
	add(CheckInclusion, err, fmt.Sprintf("leaf %d of %d in the block at height %d", r.Proof.Index, r.Proof.Total, r.Height))

	err = errMissing
	if r.Commit != nil {
		err = r.Commit.Verify(rules.Chain, g.ValidatorSet(), r.Height, r.Header.Hash())
	}
	add(CheckCommit, err, fmt.Sprintf("block %s signed by a quorum of the genesis validators", r.Header.Hash()))

	v.Valid = len(v.Failed()) == 0
	return v
}

func (r *Receipt) checkBallot(rules Rules) (*Ballot, error) {
	if r.Ballot == nil {
		return nil, errMissing
	}
	if id := r.Ballot.ID(); id != r.BallotID {
		return nil, fmt.Errorf("definition hashes to %s, not the ballot id %s", id, r.BallotID)
	}
	return r.Ballot.Check(rules)
}

func (r *Receipt) checkCast() ([]byte, error) {
	if r.Cast == nil {
		return nil, errMissing
	}
	if err := r.Cast.CheckSyntax(); err != nil {
		return nil, err
	}
	if r.Cast.BallotID != r.BallotID {
		return nil, fmt.Errorf("cast for ballot %s, receipt for %s", r.Cast.BallotID, r.BallotID)
	}
	txBytes := (&Tx{Cast: r.Cast}).Encode()
	if id := TxID(txBytes); id != r.CastID {
		return txBytes, fmt.Errorf("cast hashes to %s, not the cast id %s", id, r.CastID)
	}
	return txBytes, nil
}

func (r *Receipt) checkToken(b *Ballot) error {
	c := r.Cast
	if int(c.Registrar) >= len(b.Keys) {
		return fmt.Errorf("%w: registrar %d of %d", ErrUnknownRegistrar, c.Registrar, len(b.Keys))
	}
	if int(c.Choice) >= len(b.Def.Choices) {
		return fmt.Errorf("%w: choice %d of %d", ErrChoiceOutOfRange, c.Choice, len(b.Def.Choices))
	}
	return VerifyToken(b.Keys[c.Registrar], c.BallotID, c.Voter, c.TokenPrefix, c.Token)
}

func (r *Receipt) checkInclusion(txBytes []byte) error {
	switch {
	case r.Header.Height != r.Height:
		return fmt.Errorf("header at height %d, receipt says %d", r.Header.Height, r.Height)
	case r.Proof.Total != uint64(r.Header.TxCount):
		return fmt.Errorf("proof over %d leaves, block has %d", r.Proof.Total, r.Header.TxCount)
	}
	return r.Proof.Verify(consensus.LeafHash(txBytes), r.Header.TxRoot)
}
