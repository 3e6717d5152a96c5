package ballot

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// The ballot state as keys and values, so that a generic key-value store
// (the Pebble ledger) can hold it without knowing ballots
// (docs/PROTOCOL.md §State layout):
//
//	"b" ‖ ballot id           → canonical BallotRecord
//	"v" ‖ ballot id ‖ voter   → canonical VoterRecord
//	"r" ‖ ballot id           → canonical Results
const (
	prefixBallot  = 'b'
	prefixVoter   = 'v'
	prefixResults = 'r'
)

// KVReader is the read side of a key-value store.
type KVReader interface {
	// Get returns the value of key; found is false when there is none.
	// The returned slice is the caller's.
	Get(key []byte) (value []byte, found bool, err error)
	// Scan calls fn for every key with prefix, in increasing key order.
	Scan(prefix []byte, fn func(key, value []byte) error) error
}

// KV is one write of an Update.
type KV struct {
	Key, Value []byte
}

// BallotRecord is how a definition is stored: the definition and the
// height of the block that defined it.
type BallotRecord struct {
	Definition *Definition `cbor:"1,keyasint"`
	Height     uint64      `cbor:"2,keyasint"`
}

func ballotKey(id consensus.Hash) []byte { return append([]byte{prefixBallot}, id[:]...) }

func resultsKey(id consensus.Hash) []byte { return append([]byte{prefixResults}, id[:]...) }

func voterKey(s VoterSlot) []byte {
	k := make([]byte, 0, 1+len(s.Ballot)+len(s.Voter))
	k = append(k, prefixVoter)
	k = append(k, s.Ballot[:]...)
	return append(k, s.Voter[:]...)
}

// Writes returns the update as key-value writes, in a fixed order.
func (u *Update) Writes() []KV {
	out := make([]KV, 0, len(u.Ballots)+len(u.Voters)+len(u.Results))
	for _, b := range u.Ballots {
		out = append(out, KV{ballotKey(b.ID), canon.MustMarshal(BallotRecord{b.Def, u.Height})})
	}
	for s, r := range u.Voters {
		out = append(out, KV{voterKey(s), canon.MustMarshal(r)})
	}
	for id, r := range u.Results {
		out = append(out, KV{resultsKey(id), canon.MustMarshal(r)})
	}
	slices.SortFunc(out, func(a, b KV) int { return bytes.Compare(a.Key, b.Key) })
	return out
}

// KVState is the State over a key-value store. Ballots are immutable once
// defined, so it keeps them parsed and checked in memory. It is safe for
// concurrent use.
type KVState struct {
	kv      KVReader
	chainID string

	mu      sync.RWMutex
	ballots map[consensus.Hash]*Ballot
	heights map[consensus.Hash]uint64
}

var _ State = (*KVState)(nil)

// NewKVState reads the state of chainID from kv.
func NewKVState(chainID string, kv KVReader) *KVState {
	return &KVState{kv: kv, chainID: chainID, ballots: map[consensus.Hash]*Ballot{}, heights: map[consensus.Hash]uint64{}}
}

// Ballot implements State.
func (s *KVState) Ballot(id consensus.Hash) (*Ballot, bool, error) {
	b, _, found, err := s.BallotAt(id)
	return b, found, err
}

// BallotAt returns a ballot and the height of the block that defined it.
func (s *KVState) BallotAt(id consensus.Hash) (*Ballot, uint64, bool, error) {
	s.mu.RLock()
	b, ok := s.ballots[id]
	h := s.heights[id]
	s.mu.RUnlock()
	if ok {
		return b, h, true, nil
	}
	v, found, err := s.kv.Get(ballotKey(id))
	if err != nil || !found {
		return nil, 0, false, err
	}
	var rec BallotRecord
	if err := canon.Unmarshal(v, &rec, MaxTxBytes); err != nil {
		return nil, 0, false, fmt.Errorf("stored ballot %s: %w", id.Short(), err)
	}
	if b, err = rec.Definition.Check(s.chainID); err != nil {
		return nil, 0, false, fmt.Errorf("stored ballot %s: %w", id.Short(), err)
	}
	s.mu.Lock()
	s.ballots[id] = b
	s.heights[id] = rec.Height
	s.mu.Unlock()
	return b, rec.Height, true, nil
}

// Remember caches ballots that an update just defined, sparing a re-check
// of their signature and keys on first use.
func (s *KVState) Remember(u *Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range u.Ballots {
		s.ballots[b.ID] = b
		s.heights[b.ID] = u.Height
	}
}

// Voter implements State.
func (s *KVState) Voter(ballot consensus.Hash, voter VoterKey) (VoterRecord, bool, error) {
	var r VoterRecord
	v, found, err := s.kv.Get(voterKey(VoterSlot{ballot, voter}))
	if err != nil || !found {
		return r, false, err
	}
	if err := canon.Unmarshal(v, &r, 256); err != nil {
		return r, false, fmt.Errorf("stored voter record: %w", err)
	}
	return r, true, nil
}

// Results implements State.
func (s *KVState) Results(ballot consensus.Hash) (Results, bool, error) {
	var r Results
	v, found, err := s.kv.Get(resultsKey(ballot))
	if err != nil || !found {
		return r, false, err
	}
	if err := canon.Unmarshal(v, &r, 4096); err != nil {
		return r, false, fmt.Errorf("stored results: %w", err)
	}
	return r, true, nil
}

// AllResults implements State.
func (s *KVState) AllResults() ([]Results, error) {
	var all []Results
	err := s.kv.Scan([]byte{prefixResults}, func(_, v []byte) error {
		var r Results
		if err := canon.Unmarshal(v, &r, 4096); err != nil {
			return fmt.Errorf("stored results: %w", err)
		}
		all = append(all, r)
		return nil
	})
	return all, err
}

// BallotIDs returns the ids of every ballot, in increasing order.
func (s *KVState) BallotIDs() ([]consensus.Hash, error) {
	var ids []consensus.Hash
	err := s.kv.Scan([]byte{prefixBallot}, func(k, _ []byte) error {
		var id consensus.Hash
		copy(id[:], k[1:])
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// Voters calls fn with every voter record of a ballot, in voter key order.
func (s *KVState) Voters(ballot consensus.Hash, fn func(VoterKey, VoterRecord) error) error {
	prefix := append([]byte{prefixVoter}, ballot[:]...)
	return s.kv.Scan(prefix, func(k, v []byte) error {
		var r VoterRecord
		if err := canon.Unmarshal(v, &r, 256); err != nil {
			return fmt.Errorf("stored voter record: %w", err)
		}
		var key VoterKey
		copy(key[:], k[len(prefix):])
		return fn(key, r)
	})
}
