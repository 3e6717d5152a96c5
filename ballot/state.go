package ballot

import (
	"fmt"
	"slices"
	"sync"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// VoterRecord is the latest cast of a voter key in a ballot: the one that
// counts, with what the re-vote bounds need (how many casts the key made,
// and when the last one was).
type VoterRecord struct {
	Seq    uint64         `cbor:"1,keyasint" json:"seq"`
	Choice uint32         `cbor:"2,keyasint" json:"choice"`
	CastID consensus.Hash `cbor:"3,keyasint" json:"cast_id"`
	Height uint64         `cbor:"4,keyasint" json:"height"`
	// Casts counts the key's final casts in the ballot, this one included.
	Casts uint32 `cbor:"5,keyasint" json:"casts"`
	// Time is the block time of this cast (Unix ms).
	Time int64 `cbor:"6,keyasint" json:"time"`
	// Sealed is the cast's sealed choice in a sealed ballot (Choice is
	// then 0): what the count decrypts.
	Sealed []byte `cbor:"7,keyasint,omitempty" json:"sealed,omitempty"`
	// Entry is the record's place in the records list (docs/PROTOCOL.md
	// §14), given when the key first casts in the ballot.
	Entry uint64 `cbor:"8,keyasint" json:"-"`
}

// Results are the counts of a ballot: one per choice, each voter key
// counted once (its latest cast), and the number of casts accepted
// (replaced ones included). A sealed ballot's results hold no counts until
// its keykeepers' shares recover the election secret: only the casts and
// the turnout, and Sealed (docs/PROTOCOL.md §19.4).
type Results struct {
	BallotID consensus.Hash `cbor:"1,keyasint" json:"ballot_id"`
	Counts   []uint64       `cbor:"2,keyasint,omitempty" json:"counts,omitempty"`
	Casts    uint64         `cbor:"3,keyasint" json:"casts"`
	// Turnout is the number of voter keys counted, for sealed ballots
	// only (an open ballot's is the sum of its counts).
	Turnout uint64 `cbor:"4,keyasint,omitempty" json:"turnout,omitempty"`
	// Invalid counts, after a sealed ballot's count, the latest casts
	// whose choice did not decrypt to a choice of the ballot.
	Invalid uint64 `cbor:"5,keyasint,omitempty" json:"invalid,omitempty"`
	// Sealed is true while a sealed ballot is not counted.
	Sealed bool `cbor:"6,keyasint,omitempty" json:"sealed,omitempty"`
}

// Voters returns the number of voter keys counted.
func (r *Results) Voters() uint64 {
	if r.Turnout > 0 {
		return r.Turnout
	}
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
// as the tally transition needs it. KVState implements it over the
// ledger; MemState in memory. Methods return found=false, not an error,
// for what does not exist.
type State interface {
	// Ballot returns a ballot defined in an earlier block.
	Ballot(id consensus.Hash) (b *Ballot, found bool, err error)
	// Voter returns the latest cast of a voter key in a ballot.
	Voter(ballot consensus.Hash, voter VoterKey) (rec VoterRecord, found bool, err error)
	// Results returns a ballot's results.
	Results(ballot consensus.Hash) (res Results, found bool, err error)
	// BallotIndex returns a ballot's place in the results list: the
	// number of ballots created before it.
	BallotIndex(id consensus.Hash) (index int, found bool)
	// Keyring returns a sealed ballot's key generation.
	Keyring(ballot consensus.Hash) (k *Keyring, found bool, err error)
	// Voters calls fn with the latest cast of every voter key of a ballot.
	Voters(ballot consensus.Hash, fn func(VoterKey, VoterRecord) error) error
	// ResultsList is the Merkle list of every ballot's results leaf, in
	// the order the ballots were created. A Batch edits it without
	// changing it; the owner of the state applies the edit with the block.
	ResultsList() *consensus.MerkleList
	// RecordsList is the Merkle list of every other state record (ballot
	// records, voter records, keyrings) in the order they were created,
	// edited and applied as ResultsList.
	RecordsList() *consensus.MerkleList
	// BallotEntry returns the place of a ballot's record in the records
	// list (a sealed ballot's keyring follows it).
	BallotEntry(id consensus.Hash) (entry uint64, found bool)
}

// DomainState separates the app hash from every other hash.
const DomainState = "cocorico/v2/state"

// ResultsLeaf returns the leaf of a ballot's results in the results list:
// the RFC 6962 leaf hash of their canonical bytes.
func ResultsLeaf(r *Results) consensus.Hash { return consensus.LeafHash(canon.MustMarshal(r)) }

// RecordLeaf returns the leaf of a state record in the records list: the
// RFC 6962 leaf hash of its state key followed by its canonical bytes.
func RecordLeaf(key, value []byte) consensus.Hash {
	buf := make([]byte, 0, len(key)+len(value))
	return consensus.LeafHash(append(append(buf, key...), value...))
}

// AppHashOf returns the app hash of a state whose results list has root
// results and whose records list has root records:
// SHA-256("cocorico/v2/state" ‖ results ‖ records). docs/PROTOCOL.md §14.
func AppHashOf(results, records consensus.Hash) consensus.Hash {
	return consensus.Sum([]byte(DomainState), results[:], records[:])
}

// EmptyAppHash is the app hash of a chain with no ballot.
func EmptyAppHash() consensus.Hash {
	empty := consensus.MerkleRootOfNodes(nil)
	return AppHashOf(empty, empty)
}

// Checked is a transaction that passed the stateless checks and is ready
// for the stateful ones. Exactly one of Cast, Ballot, Deal, Complaint,
// Answer and Share is set.
type Checked struct {
	ID        consensus.Hash
	Bytes     []byte
	Cast      *Cast
	Ballot    *Ballot // the ballot a definition creates
	Deal      *Deal
	Complaint *Complaint
	Share     *KeyShare
	Answer    *Answer
}

// Kind names the transaction's kind: definition, cast, deal, complaint,
// answer or share.
func (c *Checked) Kind() string {
	switch {
	case c.Ballot != nil:
		return "definition"
	case c.Cast != nil:
		return "cast"
	case c.Deal != nil:
		return "deal"
	case c.Complaint != nil:
		return "complaint"
	case c.Answer != nil:
		return "answer"
	}
	return "share"
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
	// Ballots are the ballots the block defines, in block order; the k-th
	// takes the place FirstIndex+k in the results list.
	Ballots    []*Ballot
	FirstIndex int
	// Voters are the new latest casts, one per voter slot the block touched.
	Voters map[VoterSlot]VoterRecord
	// Results holds the new results of every ballot the block touched.
	Results map[consensus.Hash]*Results
	// Keyrings holds the new keyring of every sealed ballot the block
	// touched.
	Keyrings map[consensus.Hash]*Keyring
	// Replaced lists the casts that a cast of this block replaced.
	Replaced []consensus.Hash
	// AppHash commits to the results after this block.
	AppHash consensus.Hash
	// ResultsEdit is the edit of the results list this block makes: the
	// state's owner applies it with the update.
	ResultsEdit *consensus.MerkleEdit
	// BallotEntries are the places of the new ballots' records in the
	// records list, one per Ballots.
	BallotEntries []uint64
	// NewRecords are the state keys of the records the block creates, in
	// creation order: the k-th takes the place FirstEntry+k in the
	// records list.
	NewRecords [][]byte
	FirstEntry uint64
	// RecordsEdit is the edit of the records list this block makes.
	RecordsEdit *consensus.MerkleEdit
	// writes are the update's key-value writes, made by Finish and put
	// in key order by the first Writes (sorted): a recount's state in
	// memory never asks for them, and sorting them was 1.2 % of its CPU.
	writes []KV
	sorted sync.Once
}

// Batch applies the transactions of one block, in order, over a State:
// it is how a proposer fills a block (skipping what fails), how a validator
// checks a proposal (refusing it when anything fails) and how every node
// applies a final block. It is the tally state transition of
// docs/PROTOCOL.md §Transition.
type Batch struct {
	state  State
	rules  Rules
	height uint64
	time   int64
	up     Update
	ids    map[consensus.Hash]bool
	// parallel runs the decryption of a sealed ballot's count; counts,
	// if set, remembers counts made.
	parallel Parallel
	counts   Counts
}

// NewBatch starts the block at height with block time t (Unix ms) over
// st, under the chain's rules.
func NewBatch(st State, r Rules, height uint64, t int64) *Batch {
	return &Batch{
		state:  st,
		rules:  r,
		height: height,
		time:   t,
		up: Update{
			Height:   height,
			Voters:   make(map[VoterSlot]VoterRecord),
			Results:  make(map[consensus.Hash]*Results),
			Keyrings: make(map[consensus.Hash]*Keyring),
		},
		ids:      make(map[consensus.Hash]bool),
		parallel: Sequential,
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
	switch {
	case tx.Ballot != nil:
		err = b.addBallot(tx.Ballot)
	case tx.Cast != nil:
		err = b.addCast(tx)
	default:
		err = b.addKeykeeper(tx)
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
	b.up.BallotEntries = append(b.up.BallotEntries, b.newRecord(ballotKey(nb.ID)))
	if nb.Def.Tally == TallySealed {
		b.newRecord(keyringKey(nb.ID))
		b.up.Results[nb.ID] = &Results{BallotID: nb.ID, Sealed: true}
		b.up.Keyrings[nb.ID] = &Keyring{BallotID: nb.ID}
		return nil
	}
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
	if tx.Cast == nil {
		_, _, err := b.checkKeykeeper(tx)
		return err
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
	if bal.Def.Tally == TallySealed {
		if err := b.checkSealedOpen(bal); err != nil {
			return prev, false, fmt.Errorf("cast %s: %w", tx.ID.Short(), err)
		}
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
		if max := b.rules.App.MaxCastsPerVoter; int(prev.Casts) >= max {
			return prev, had, fmt.Errorf("cast %s: %w: this key cast %d times, the chain allows %d", tx.ID.Short(), ErrTooManyCasts, prev.Casts, max)
		}
		if next := prev.Time + b.rules.App.RevoteIntervalMs; b.time < next {
			return prev, had, fmt.Errorf("cast %s: %w: the last cast of this key is at %d, the next may be at %d", tx.ID.Short(), ErrRevoteTooSoon, prev.Time, next)
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
	casts := uint32(1)
	entry := prev.Entry
	if had {
		b.up.Replaced = append(b.up.Replaced, prev.CastID)
		casts = prev.Casts + 1
	} else {
		entry = b.newRecord(voterKey(slot))
	}
	switch {
	case c.Sealed != nil && !had:
		res.Turnout++
	case c.Sealed == nil:
		if had {
			res.Counts[prev.Choice]--
		}
		res.Counts[c.Choice]++
	}
	res.Casts++
	b.up.Voters[slot] = VoterRecord{Seq: c.Seq, Choice: c.Choice, CastID: tx.ID, Height: b.height, Casts: casts, Time: b.time, Sealed: c.Sealed, Entry: entry}
	return nil
}

// newRecord gives the next place in the records list to a record the
// block creates.
func (b *Batch) newRecord(key []byte) uint64 {
	e := uint64(b.state.RecordsList().Len() + len(b.up.NewRecords))
	b.up.NewRecords = append(b.up.NewRecords, key)
	return e
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
// It costs O(k log n) for k records touched among n: only their leaves of
// the results and records lists change. The batch must not be used
// afterwards.
func (b *Batch) Finish() (*Update, error) {
	u := &b.up
	results := b.state.ResultsList()
	re := results.Edit()
	u.FirstIndex = results.Len()
	fresh := make(map[consensus.Hash]bool, len(u.Ballots))
	for _, nb := range u.Ballots {
		fresh[nb.ID] = true
	}
	for id, r := range u.Results {
		if fresh[id] {
			continue
		}
		i, found := b.state.BallotIndex(id)
		if !found {
			return nil, fmt.Errorf("ballot %s has results but no place in the results list", id.Short())
		}
		re.Set(i, ResultsLeaf(r))
	}
	for _, nb := range u.Ballots {
		re.Append(ResultsLeaf(u.Results[nb.ID]))
	}

	// Every record written, as bytes once, for the leaves and the store.
	records := b.state.RecordsList()
	ve := records.EditSized(len(u.Voters) + len(u.NewRecords) + len(u.Keyrings))
	u.FirstEntry = uint64(records.Len())
	changed := len(u.Ballots) + len(u.Voters) + len(u.Keyrings)
	writes := make([]KV, 0, 3*changed+len(u.Results)) // a record, its entry and its leaf
	values := make(map[string][]byte, len(u.NewRecords))
	// Each record's leaf is written beside it ("l" ‖ entry): a node's
	// records list reads its leaves from the store (NewStoredKVState).
	leaves := make([]byte, 0, changed*consensus.HashSize)
	leaf := func(entry uint64, h consensus.Hash) {
		leaves = append(leaves, h[:]...)
		writes = append(writes, KV{LeafKey(entry), leaves[len(leaves)-consensus.HashSize:]})
	}
	// Each record is also written at its entry, key and value end to end
	// ("i" ‖ entry): a node serving a snapshot reads a chunk's records in
	// one scan of their entries (EntryRecord).
	record := func(key []byte, entry uint64, value []byte) {
		writes = append(writes, KV{key, value}, KV{EntryKey(entry), entryValue(key, value)})
		if entry < u.FirstEntry {
			h := RecordLeaf(key, value)
			ve.Set(int(entry), h)
			leaf(entry, h)
		} else {
			values[string(key)] = value
		}
	}
	for k, nb := range u.Ballots {
		record(ballotKey(nb.ID), u.BallotEntries[k], canon.MustMarshal(BallotRecord{nb.Def, u.Height, uint64(u.FirstIndex + k), u.BallotEntries[k]}))
	}
	for s, r := range u.Voters {
		record(voterKey(s), r.Entry, canon.MustMarshal(r))
	}
	for id, k := range u.Keyrings {
		entry, found := b.BallotEntry(id)
		if !found {
			return nil, fmt.Errorf("keyring of ballot %s has no place in the records list", id.Short())
		}
		record(keyringKey(id), entry+1, canon.MustMarshal(k))
	}
	for k, key := range u.NewRecords {
		h := RecordLeaf(key, values[string(key)])
		ve.Append(h)
		leaf(u.FirstEntry+uint64(k), h)
	}
	for id, r := range u.Results {
		writes = append(writes, KV{resultsKey(id), canon.MustMarshal(r)})
	}
	u.writes = writes
	u.AppHash = AppHashOf(re.Root(), ve.Root())
	if err := ve.Err(); err != nil {
		return nil, fmt.Errorf("records list: %w", err)
	}
	u.ResultsEdit, u.RecordsEdit = re, ve
	return u, nil
}

// BallotEntry returns the place in the records list of a ballot of the
// state or defined earlier in this batch.
func (b *Batch) BallotEntry(id consensus.Hash) (uint64, bool) {
	for k, nb := range b.up.Ballots {
		if nb.ID == id {
			return b.up.BallotEntries[k], true
		}
	}
	return b.state.BallotEntry(id)
}
