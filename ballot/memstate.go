package ballot

import (
	"github.com/cocorico/node/consensus"
)

// MemState is a State held in memory: the reference implementation, used
// by the recount, tests, benchmarks and tools. The zero value is not
// ready; use NewMemState.
type MemState struct {
	ballots map[consensus.Hash]*Ballot
	index   map[consensus.Hash]int
	// voters holds every voter record but its sealed choice, which
	// sealed holds: a map without pointers is one the garbage collector
	// never scans (a recount of millions of casts holds millions)
	voters  map[VoterSlot]memVoter
	sealed  map[VoterSlot][]byte
	results map[consensus.Hash]*Results
	keyring map[consensus.Hash]*Keyring
	list    *consensus.MerkleList
	records *consensus.MerkleList
	entries map[consensus.Hash]uint64
	height  uint64
	appHash consensus.Hash
}

var _ State = (*MemState)(nil)

// NewMemState returns an empty state.
func NewMemState() *MemState {
	return &MemState{
		ballots: make(map[consensus.Hash]*Ballot),
		index:   make(map[consensus.Hash]int),
		voters:  make(map[VoterSlot]memVoter),
		sealed:  make(map[VoterSlot][]byte),
		results: make(map[consensus.Hash]*Results),
		keyring: make(map[consensus.Hash]*Keyring),
		list:    consensus.NewMerkleList(nil),
		records: consensus.NewMerkleList(nil),
		entries: make(map[consensus.Hash]uint64),
		appHash: EmptyAppHash(),
	}
}

// Ballot implements State.
func (m *MemState) Ballot(id consensus.Hash) (*Ballot, bool, error) {
	b, ok := m.ballots[id]
	return b, ok, nil
}

// Voter implements State.
func (m *MemState) Voter(ballot consensus.Hash, voter VoterKey) (VoterRecord, bool, error) {
	slot := VoterSlot{ballot, voter}
	r, ok := m.voters[slot]
	if !ok {
		return VoterRecord{}, false, nil
	}
	return r.record(m.sealed[slot]), true, nil
}

// memVoter is a VoterRecord without its sealed choice.
type memVoter struct {
	seq, height, entry uint64
	time               int64
	castID             consensus.Hash
	choice, casts      uint32
}

func (v memVoter) record(sealed []byte) VoterRecord {
	return VoterRecord{Seq: v.seq, Choice: v.choice, CastID: v.castID, Height: v.height, Casts: v.casts,
		Time: v.time, Sealed: sealed, Entry: v.entry}
}

// Results implements State.
func (m *MemState) Results(ballot consensus.Hash) (Results, bool, error) {
	r, ok := m.results[ballot]
	if !ok {
		return Results{}, false, nil
	}
	return *r.clone(), true, nil
}

// Keyring implements State.
func (m *MemState) Keyring(ballot consensus.Hash) (*Keyring, bool, error) {
	k, ok := m.keyring[ballot]
	return k, ok, nil
}

// Voters implements State (in no particular order).
func (m *MemState) Voters(ballot consensus.Hash, fn func(VoterKey, VoterRecord) error) error {
	for s, r := range m.voters {
		if s.Ballot == ballot {
			if err := fn(s.Voter, r.record(m.sealed[s])); err != nil {
				return err
			}
		}
	}
	return nil
}

// BallotIndex implements State.
func (m *MemState) BallotIndex(id consensus.Hash) (int, bool) {
	i, ok := m.index[id]
	return i, ok
}

// ResultsList implements State.
func (m *MemState) ResultsList() *consensus.MerkleList { return m.list }

// RecordsList implements State.
func (m *MemState) RecordsList() *consensus.MerkleList { return m.records }

// BallotEntry implements State.
func (m *MemState) BallotEntry(id consensus.Hash) (uint64, bool) {
	e, ok := m.entries[id]
	return e, ok
}

// Apply writes an update made by a Batch over m.
func (m *MemState) Apply(u *Update) {
	for k, b := range u.Ballots {
		m.ballots[b.ID] = b
		m.index[b.ID] = u.FirstIndex + k
		m.entries[b.ID] = u.BallotEntries[k]
	}
	for s, r := range u.Voters {
		m.voters[s] = memVoter{seq: r.Seq, height: r.Height, entry: r.Entry, time: r.Time, castID: r.CastID,
			choice: r.Choice, casts: r.Casts}
		if r.Sealed != nil {
			m.sealed[s] = r.Sealed
		} else {
			delete(m.sealed, s)
		}
	}
	for id, r := range u.Results {
		m.results[id] = r.clone()
	}
	for id, k := range u.Keyrings {
		m.keyring[id] = k.clone()
	}
	if u.ResultsEdit != nil {
		m.list.Apply(u.ResultsEdit)
	}
	if u.RecordsEdit != nil {
		m.records.Apply(u.RecordsEdit)
	}
	m.height = u.Height
	m.appHash = u.AppHash
}

// Height returns the height of the last update applied.
func (m *MemState) Height() uint64 { return m.height }

// AppHash returns the app hash after the last update applied.
func (m *MemState) AppHash() consensus.Hash { return m.appHash }
