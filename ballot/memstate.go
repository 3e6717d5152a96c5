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
	voters  map[VoterSlot]VoterRecord
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
		voters:  make(map[VoterSlot]VoterRecord),
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
	r, ok := m.voters[VoterSlot{ballot, voter}]
	return r, ok, nil
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
			if err := fn(s.Voter, r); err != nil {
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
		m.voters[s] = r
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
