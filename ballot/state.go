package ballot

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// VoterRecord is the latest cast of a voter key in a ballot: the one that counts.
type VoterRecord struct {
	Seq    uint64         `cbor:"1,keyasint" json:"seq"`
	Choice uint32         `cbor:"2,keyasint" json:"choice"`
	CastID consensus.Hash `cbor:"3,keyasint" json:"cast_id"`
	Height uint64         `cbor:"4,keyasint" json:"height"`
}

// Results are the counts of a ballot: one per choice, each voter key
// counted once (its latest cast), and the number of casts accepted
// (replaced ones included).
type Results struct {
	BallotID consensus.Hash `cbor:"1,keyasint" json:"ballot_id"`
	Counts   []uint64       `cbor:"2,keyasint" json:"counts"`
	Casts    uint64         `cbor:"3,keyasint" json:"casts"`
}

// Voters returns the number of voter keys counted.
func (r *Results) Voters() uint64 {
	var n uint64
	for _, c := range r.Counts {
		n += c
	}
	return n
}

func (r *Results) clone() *Results {
	c := *r
	c.Counts = slices.Clone(r.Counts)
	return &c
}

// State is the read side of the ballot state after the last final block,
// as the tally transition needs it. The store implements it on Pebble;
// MemState in memory. Methods return found=false, not an error, for what
// does not exist.
type State interface {
	// Ballot returns a ballot defined in an earlier block.
	Ballot(id consensus.Hash) (b *Ballot, found bool, err error)
	// Voter returns the latest cast of a voter key in a ballot.
	Voter(ballot consensus.Hash, voter VoterKey) (rec VoterRecord, found bool, err error)
	// Results returns a ballot's results.
	Results(ballot consensus.Hash) (res Results, found bool, err error)
	// AllResults returns the results of every ballot, in increasing ballot id order.
	AllResults() ([]Results, error)
}

// DomainResults separates the app hash from every other hash.
const DomainResults = "cocorico/v1/results"

// AppHash returns the commitment to the results of every ballot:
// SHA-256("cocorico/v1/results" ‖ canonical array of Results in increasing
// ballot id order). docs/PROTOCOL.md §App hash.
func AppHash(all []Results) consensus.Hash {
	if all == nil {
		all = []Results{} // the empty array (0x80), not CBOR null
	}
	return consensus.Sum([]byte(DomainResults), canon.MustMarshal(all))
}

// Checked is a transaction that passed the stateless checks and is ready
// for the stateful ones. Exactly one of Cast and Ballot is set.
type Checked struct {
	ID     consensus.Hash
	Bytes  []byte
	Cast   *Cast
	Ballot *Ballot // the ballot a definition creates
}

// VoterSlot names a voter key in a ballot.
type VoterSlot struct {
	Ballot consensus.Hash
	Voter  VoterKey
}

// Update is what one block changes in the state. The store writes it in
// the block's batch.
type Update struct {
	Height uint64
	// Ballots are the ballots the block defines, in block order.
	Ballots []*Ballot
	// Voters are the new latest casts, one per voter slot the block touched.
	Voters map[VoterSlot]VoterRecord
	// Results holds the new results of every ballot the block touched.
	Results map[consensus.Hash]*Results
	// Replaced lists the casts that a cast of this block replaced.
	Replaced []consensus.Hash
	// AppHash commits to the results after this block.
	AppHash consensus.Hash
}

// Batch applies the transactions of one block, in order, over a State:
// it is how a proposer fills a block (skipping what fails), how a validator
// checks a proposal (refusing it when anything fails) and how every node
// applies a final block. It is the tally state transition of
// docs/PROTOCOL.md §Transition.
type Batch struct {
	state  State
	height uint64
	time   int64
	up     Update
	ids    map[consensus.Hash]bool
}

// NewBatch starts the block at height with block time t (Unix ms) over st.
func NewBatch(st State, height uint64, t int64) *Batch {
	return &Batch{
		state:  st,
		height: height,
		time:   t,
		up: Update{
			Height:  height,
			Voters:  make(map[VoterSlot]VoterRecord),
			Results: make(map[consensus.Hash]*Results),
		},
		ids: make(map[consensus.Hash]bool),
	}
}

// Len returns the number of transactions added.
func (b *Batch) Len() int { return len(b.ids) }

// Ballot returns a ballot from the state or defined earlier in this batch.
func (b *Batch) Ballot(id consensus.Hash) (*Ballot, bool, error) {
	for _, nb := range b.up.Ballots {
		if nb.ID == id {
			return nb, true, nil
		}
	}
	return b.state.Ballot(id)
}

// Add checks tx against the state as the batch has made it so far and, if
// it passes, applies it. When Add returns an error the batch is unchanged.
func (b *Batch) Add(tx *Checked) error {
	if b.ids[tx.ID] {
		return fmt.Errorf("tx %s: %w: twice in one block", tx.ID.Short(), ErrSeqReplay)
	}
	var err error
	if tx.Ballot != nil {
		err = b.addBallot(tx.Ballot)
	} else {
		err = b.addCast(tx)
	}
	if err == nil {
		b.ids[tx.ID] = true
	}
	return err
}

func (b *Batch) addBallot(nb *Ballot) error {
	if err := b.Check(&Checked{ID: nb.ID, Ballot: nb}); err != nil {
		return err
	}
	b.up.Ballots = append(b.up.Ballots, nb)
	b.up.Results[nb.ID] = &Results{BallotID: nb.ID, Counts: make([]uint64, len(nb.Def.Choices))}
	return nil
}

// Check applies the stateful rules to tx against the state as the batch
// has made it so far, without applying it.
func (b *Batch) Check(tx *Checked) error {
	if tx.Ballot != nil {
		if _, found, err := b.Ballot(tx.Ballot.ID); err != nil {
			return err
		} else if found {
			return fmt.Errorf("ballot %s: %w", tx.Ballot.ID.Short(), ErrDuplicateBallot)
		}
		if tx.Ballot.Def.Closes <= b.time {
			return fmt.Errorf("ballot %s: %w: closes at %d, block time %d", tx.Ballot.ID.Short(), ErrBallotClosed, tx.Ballot.Def.Closes, b.time)
		}
		return nil
	}
	_, _, err := b.checkCast(tx)
	return err
}

// checkCast applies the stateful rules to a cast and returns the voter
// key's previous record, if any.
func (b *Batch) checkCast(tx *Checked) (prev VoterRecord, had bool, err error) {
	c := tx.Cast
	bal, found, err := b.Ballot(c.BallotID)
	if err != nil {
		return prev, false, err
	}
	if !found {
		return prev, false, fmt.Errorf("cast %s: %w %s", tx.ID.Short(), ErrUnknownBallot, c.BallotID.Short())
	}
	if err := CheckOpen(bal.Def, b.time); err != nil {
		return prev, false, fmt.Errorf("cast %s: %w", tx.ID.Short(), err)
	}
	slot := VoterSlot{c.BallotID, c.Key()}
	prev, had = b.up.Voters[slot]
	if !had {
		if prev, had, err = b.state.Voter(slot.Ballot, slot.Voter); err != nil {
			return prev, false, err
		}
	}
	if had {
		if !bal.Def.Revote {
			return prev, had, fmt.Errorf("cast %s: %w", tx.ID.Short(), ErrRevoteNotAllowed)
		}
		if c.Seq <= prev.Seq {
			return prev, had, fmt.Errorf("cast %s: %w: seq %d, last %d", tx.ID.Short(), ErrSeqReplay, c.Seq, prev.Seq)
		}
	}
	return prev, had, nil
}

func (b *Batch) addCast(tx *Checked) error {
	c := tx.Cast
	prev, had, err := b.checkCast(tx)
	if err != nil {
		return err
	}
	slot := VoterSlot{c.BallotID, c.Key()}
	res, err := b.results(c.BallotID)
	if err != nil {
		return err
	}
	if had {
		res.Counts[prev.Choice]--
		b.up.Replaced = append(b.up.Replaced, prev.CastID)
	}
	res.Counts[c.Choice]++
	res.Casts++
	b.up.Voters[slot] = VoterRecord{Seq: c.Seq, Choice: c.Choice, CastID: tx.ID, Height: b.height}
	return nil
}

// results returns the batch's working copy of a ballot's results.
func (b *Batch) results(id consensus.Hash) (*Results, error) {
	if r, ok := b.up.Results[id]; ok {
		return r, nil
	}
	r, found, err := b.state.Results(id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("results of ballot %s missing from the state", id.Short())
	}
	w := r.clone()
	b.up.Results[id] = w
	return w, nil
}

// CheckOpen reports whether casts are accepted at block time t.
func CheckOpen(d *Definition, t int64) error {
	if t < d.Opens {
		return fmt.Errorf("%w: opens at %d, block time %d", ErrBallotNotOpen, d.Opens, t)
	}
	if t >= d.Closes {
		return fmt.Errorf("%w: closed at %d, block time %d", ErrBallotClosed, d.Closes, t)
	}
	return nil
}

// Finish computes the app hash after the batch and returns the update.
// The batch must not be used afterwards.
func (b *Batch) Finish() (*Update, error) {
	all, err := b.state.AllResults()
	if err != nil {
		return nil, err
	}
	for i := range all {
		if r, ok := b.up.Results[all[i].BallotID]; ok {
			all[i] = *r
		}
	}
	for _, nb := range b.up.Ballots {
		all = append(all, *b.up.Results[nb.ID])
	}
	slices.SortFunc(all, func(x, y Results) int { return bytes.Compare(x.BallotID[:], y.BallotID[:]) })
	b.up.AppHash = AppHash(all)
	return &b.up, nil
}
