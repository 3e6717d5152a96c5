package ballot

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
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
//	"k" ‖ ballot id           → canonical Keyring (sealed ballots)
//	"i" ‖ be64(entry)         → the state key and value of the records list's entry, end to end
//	"l" ‖ be64(entry)         → the leaf hash of the records list's entry
//
// (The "i" index and the "l" leaves are not part of the app hash: "i" is
// how a node serving a snapshot reads the records list in order, "l" what
// a node's records list reads instead of keeping every leaf in memory. A
// ledger written before "i" held values holds the state key alone at the
// entries it wrote then: EntryRecord tells the two apart.)
const (
	prefixBallot  = 'b'
	prefixVoter   = 'v'
	prefixResults = 'r'
	prefixKeyring = 'k'
	prefixEntry   = 'i'
	prefixLeaf    = 'l'
)

// EntryKey is the state key of the index entry of the records list's
// entry e.
func EntryKey(e uint64) []byte { return binary.BigEndian.AppendUint64([]byte{prefixEntry}, e) }

// entryValue is what an entry of the records list holds: the record's
// state key and value, end to end.
func entryValue(key, value []byte) []byte {
	v := make([]byte, 0, len(key)+len(value))
	return append(append(v, key...), value...)
}

// EntryRecord splits what an entry of the records list holds into the
// record's state key and value (the key's first byte fixes its length).
// An entry written by an older build holds the key alone: value is then
// nil, and the record is to be read at its key. ok is false when v holds
// no record key.
func EntryRecord(v []byte) (key, value []byte, ok bool) {
	n := recordKeyLen(v)
	switch {
	case n == 0 || len(v) < n:
		return nil, nil, false
	case len(v) == n:
		return v, nil, true
	}
	return v[:n:n], v[n:], true
}

// recordKeyLen is the length of the record state key that k starts with,
// by its first byte: 0 when it starts with none.
func recordKeyLen(k []byte) int {
	if len(k) == 0 {
		return 0
	}
	switch k[0] {
	case prefixBallot, prefixKeyring:
		return 1 + consensus.HashSize
	case prefixVoter:
		return 1 + consensus.HashSize + len(VoterKey{})
	}
	return 0
}

// LeafKey is the state key of the leaf hash of the records list's entry e.
func LeafKey(e uint64) []byte { return binary.BigEndian.AppendUint64([]byte{prefixLeaf}, e) }

// Bounds of stored records: a voter record with a sealed choice, a
// keyring of MaxKeykeepers deals (each of MaxKeykeepers encrypted shares
// and commitments) with their complaints and shares.
const (
	maxVoterRecordBytes = 512
	maxKeyringBytes     = 1 << 20
)

// KVReader is the read side of a key-value store.
type KVReader interface {
	// Get returns the value of key; found is false when there is none.
	// The returned slice is the caller's.
	Get(key []byte) (value []byte, found bool, err error)
	// Scan calls fn for every key with prefix, in increasing key order.
	Scan(prefix []byte, fn func(key, value []byte) error) error
	// ScanAfter is Scan from the first key above prefix ‖ after.
	ScanAfter(prefix, after []byte, fn func(key, value []byte) error) error
}

// KV is one write of an Update.
type KV struct {
	Key, Value []byte
}

// BallotRecord is how a definition is stored: the definition, the height
// of the block that defined it, and its place in the results list (the
// number of ballots created before it).
type BallotRecord struct {
	Definition *Definition `cbor:"1,keyasint"`
	Height     uint64      `cbor:"2,keyasint"`
	Index      uint64      `cbor:"3,keyasint"`
	// Entry is the record's place in the records list.
	Entry uint64 `cbor:"4,keyasint"`
}

func ballotKey(id consensus.Hash) []byte { return append([]byte{prefixBallot}, id[:]...) }

func resultsKey(id consensus.Hash) []byte { return append([]byte{prefixResults}, id[:]...) }

func keyringKey(id consensus.Hash) []byte { return append([]byte{prefixKeyring}, id[:]...) }

func voterKey(s VoterSlot) []byte {
	k := make([]byte, 0, 1+len(s.Ballot)+len(s.Voter))
	k = append(k, prefixVoter)
	k = append(k, s.Ballot[:]...)
	return append(k, s.Voter[:]...)
}

// Writes returns the update as key-value writes, in key order: every
// record the block creates or changes, its results and the records list's
// index entries. Finish makes them; the first call sorts them (a ledger's
// memtable takes keys in order faster).
func (u *Update) Writes() []KV {
	u.sorted.Do(func() { slices.SortFunc(u.writes, func(a, b KV) int { return bytes.Compare(a.Key, b.Key) }) })
	return u.writes
}

// KVState is the State over a key-value store. Ballots are immutable once
// defined and few (only the genesis organizers create them), so it keeps
// every one parsed in memory, with the results list and the ballots by
// closing time: a block costs what it touches, never a scan of all
// ballots. Reads are safe from any goroutine; Remember, and the edits of
// ResultsList, belong to the one goroutine that applies blocks.
type KVState struct {
	kv KVReader
	// put writes to kv outside a block, for a state whose records list
	// reads its leaves from kv; nil: the leaves are kept in memory
	put   func([]KV) error
	rules Rules

	mu      sync.RWMutex
	height  uint64 // of the last update remembered
	ballots map[consensus.Hash]*kvBallot
	results map[consensus.Hash]*Results
	// keyrings of sealed ballots: few and small, kept parsed
	keyrings map[consensus.Hash]*Keyring
	order    []consensus.Hash // by creation: order[i] has index i
	closing  []closingEntry   // by closing time, then id
	list     *consensus.MerkleList
	records  *consensus.MerkleList
	// voters filters the state keys of the voter records (reads of a key
	// it never held skip the store); added to under mu, tested under
	// its read lock
	voters *voterFilter
}

type kvBallot struct {
	b      *Ballot
	height uint64
	index  int
	entry  uint64
}

type closingEntry struct {
	closes int64
	id     consensus.Hash
}

var _ State = (*KVState)(nil)

// NewKVState reads the ballot state of a chain after the block at height
// from kv: every ballot and its results, checked against the chain's
// rules, and the leaves of the records list. It reads every record once
// (a state synced from a snapshot is checked by this too: the app hash
// of what it reads must be the one the validators signed).
// Its records list keeps every leaf in memory (1.25 hashes a record).
func NewKVState(r Rules, kv KVReader, height uint64) (*KVState, error) {
	return NewStoredKVState(r, kv, nil, height)
}

// NewStoredKVState is NewKVState for a node's own store, which put writes
// to outside a block: the records list reads its leaves from the store
// (the "l" keys, which every block's update writes) and keeps only 1/8 of
// a hash a record in memory. It checks the stored leaves against the
// records it reads, and builds the list from them in one scan, holding
// none (recordslist.go); if some are missing or wrong (a store of an
// older build has none), it reads the records again, holding their
// leaves, and writes those with put. A nil put keeps the leaves in memory.
func NewStoredKVState(r Rules, kv KVReader, put func([]KV) error, height uint64) (*KVState, error) {
	s := emptyKVState(r, kv, put, height)
	err := s.load(kv, height, put != nil)
	if errors.Is(err, errLeavesDiffer) {
		s = emptyKVState(r, kv, put, height)
		err = s.load(kv, height, false)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func emptyKVState(r Rules, kv KVReader, put func([]KV) error, height uint64) *KVState {
	return &KVState{kv: kv, put: put, rules: r, height: height, ballots: map[consensus.Hash]*kvBallot{}, results: map[consensus.Hash]*Results{},
		keyrings: map[consensus.Hash]*Keyring{}}
}

// Reload reads the state again from its store, after the block at
// height: for a node whose store was just filled from a snapshot. The
// state is the same object, so that those holding it see the new one.
// The caller is the goroutine that applies blocks.
func (s *KVState) Reload(height uint64) error {
	fresh, err := NewStoredKVState(s.rules, s.kv, s.put, height)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.height, s.ballots, s.results, s.keyrings = fresh.height, fresh.ballots, fresh.results, fresh.keyrings
	s.order, s.closing, s.list, s.records = fresh.order, fresh.closing, fresh.list, fresh.records
	s.voters = fresh.voters
	return nil
}

// load reads every ballot, results, keyring and record from kv into s,
// which nobody else holds yet. With stream, the records list is built
// from the leaves kv stores, checked against the records; if they differ
// load returns errLeavesDiffer, and s is to be dropped.
func (s *KVState) load(kv KVReader, height uint64, stream bool) error {
	r := s.rules
	var recs []BallotRecord
	err := kv.Scan([]byte{prefixBallot}, func(k, v []byte) error {
		var rec BallotRecord
		if err := canon.Unmarshal(v, &rec, MaxTxBytes+64); err != nil {
			return fmt.Errorf("stored ballot %x: %w", k[1:], err)
		}
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(recs, func(a, b BallotRecord) int { return cmp.Compare(a.Index, b.Index) })
	records := recordLeaves{stream: stream}
	leaves := make([]consensus.Hash, len(recs))
	for i, rec := range recs {
		if rec.Index != uint64(i) {
			return fmt.Errorf("stored ballots: index %d at place %d: the state is damaged", rec.Index, i)
		}
		b, err := rec.Definition.Check(r)
		if err != nil {
			return fmt.Errorf("stored ballot %d: %w", i, err)
		}
		res, found, err := StoredResults(kv, b.ID)
		switch {
		case err != nil || !found:
			return fmt.Errorf("results of stored ballot %s: found %v, %v", b.ID.Short(), found, err)
		case len(res.Counts) != len(b.Def.Choices) && !res.Sealed:
			return fmt.Errorf("stored results of %s: damaged (%d counts for %d choices)", b.ID.Short(), len(res.Counts), len(b.Def.Choices))
		}
		if b.Def.Tally == TallySealed {
			v, found, err := kv.Get(keyringKey(b.ID))
			if err != nil || !found {
				return fmt.Errorf("keyring of stored ballot %s: found %v, %v", b.ID.Short(), found, err)
			}
			var k Keyring
			if err := canon.Unmarshal(v, &k, maxKeyringBytes); err != nil || k.BallotID != b.ID {
				return fmt.Errorf("stored keyring of %s: damaged (%v)", b.ID.Short(), err)
			}
			s.keyrings[b.ID] = &k
			records.set(rec.Entry+1, keyringKey(b.ID), v)
		}
		records.set(rec.Entry, ballotKey(b.ID), canon.MustMarshal(rec))
		leaves[i] = ResultsLeaf(&res)
		s.results[b.ID] = &res
		s.add(b, rec.Height, rec.Entry)
	}
	s.list = consensus.NewMerkleList(leaves)
	n, err := countEntries(kv)
	if err != nil {
		return err
	}
	s.voters = newVoterFilter(uint(n))
	err = kv.Scan([]byte{prefixVoter}, func(k, v []byte) error {
		var r VoterRecord
		if err := canon.Unmarshal(v, &r, maxVoterRecordBytes); err != nil {
			return fmt.Errorf("stored voter record: %w", err)
		}
		records.set(r.Entry, k, v)
		s.voters.add(k)
		return nil
	})
	if err != nil {
		return err
	}
	if s.records, err = records.list(kv, s.put); err != nil {
		return err
	}
	if got := uint64(s.records.Len()); got != n {
		// a record missing at the end of the list leaves no hole
		return fmt.Errorf("%d stored records for the %d places of the records list: the state is damaged", got, n)
	}
	return nil
}

// StoredResults reads the results of ballot id from kv alone, without
// loading the state: what a recount compares its own with.
func StoredResults(kv KVReader, id consensus.Hash) (Results, bool, error) {
	v, found, err := kv.Get(resultsKey(id))
	if err != nil || !found {
		return Results{}, false, err
	}
	var res Results
	if err := canon.Unmarshal(v, &res, 4096); err != nil || res.BallotID != id {
		return Results{}, false, fmt.Errorf("stored results of %s: damaged (%v)", id.Short(), err)
	}
	return res, true, nil
}

// add records a ballot defined at height; the caller holds mu or owns s.
func (s *KVState) add(b *Ballot, height, entry uint64) {
	s.ballots[b.ID] = &kvBallot{b: b, height: height, index: len(s.order), entry: entry}
	s.order = append(s.order, b.ID)
	e := closingEntry{b.Def.Closes, b.ID}
	at, _ := slices.BinarySearchFunc(s.closing, e, compareClosing)
	s.closing = slices.Insert(s.closing, at, e)
}

func compareClosing(a, b closingEntry) int {
	if c := cmp.Compare(a.closes, b.closes); c != 0 {
		return c
	}
	return bytes.Compare(a.id[:], b.id[:])
}

// Ballot implements State.
func (s *KVState) Ballot(id consensus.Hash) (*Ballot, bool, error) {
	b, _, found, err := s.BallotAt(id)
	return b, found, err
}

// BallotAt returns a ballot and the height of the block that defined it.
func (s *KVState) BallotAt(id consensus.Hash) (*Ballot, uint64, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	kb, ok := s.ballots[id]
	if !ok {
		return nil, 0, false, nil
	}
	return kb.b, kb.height, true, nil
}

// BallotIndex implements State.
func (s *KVState) BallotIndex(id consensus.Hash) (int, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	kb, ok := s.ballots[id]
	if !ok {
		return 0, false
	}
	return kb.index, true
}

// BallotEntry implements State.
func (s *KVState) BallotEntry(id consensus.Hash) (uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	kb, ok := s.ballots[id]
	if !ok {
		return 0, false
	}
	return kb.entry, true
}

// ResultsList implements State.
func (s *KVState) ResultsList() *consensus.MerkleList { return s.list }

// RecordsList implements State.
func (s *KVState) RecordsList() *consensus.MerkleList { return s.records }

// AppHash returns the app hash of the state after the last block applied.
func (s *KVState) AppHash() consensus.Hash {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return AppHashOf(s.list.Root(), s.records.Root())
}

// Remember takes in an update that was just written: its new ballots,
// parsed, its results and its edit of the results list, all at once for
// readers.
func (s *KVState) Remember(u *Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, b := range u.Ballots {
		s.add(b, u.Height, u.BallotEntries[k])
	}
	for id, r := range u.Results {
		s.results[id] = r.clone()
	}
	for id, k := range u.Keyrings {
		s.keyrings[id] = k.clone()
	}
	if u.ResultsEdit != nil {
		s.list.Apply(u.ResultsEdit)
	}
	if u.RecordsEdit != nil {
		s.records.Apply(u.RecordsEdit)
	}
	for slot := range u.Voters {
		s.voters.add(voterKey(slot))
	}
	s.height = u.Height
}

// ResultsSnapshot is a ballot's results with what they stand on, read at
// once: what a node serves and a client checks (ResultsClaim).
type ResultsSnapshot = ResultsClaim

// Snapshot returns a ballot's results with their proof.
func (s *KVState) Snapshot(id consensus.Hash) (ResultsSnapshot, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	kb, ok := s.ballots[id]
	if !ok {
		return ResultsSnapshot{}, false, nil
	}
	p, err := s.list.Proof(kb.index)
	if err != nil {
		return ResultsSnapshot{}, false, err
	}
	records := s.records.Root()
	return ResultsSnapshot{Height: s.height, Results: *s.results[id].clone(), Index: kb.index, Proof: p,
		RecordsRoot: records, AppHash: AppHashOf(s.list.Root(), records)}, true, nil
}

// ClosingIn returns the ballots whose closing time is in (from, to].
func (s *KVState) ClosingIn(from, to int64) []consensus.Hash {
	s.mu.RLock()
	defer s.mu.RUnlock()
	at, _ := slices.BinarySearchFunc(s.closing, closingEntry{closes: from + 1}, compareClosing)
	var out []consensus.Hash
	for _, e := range s.closing[at:] {
		if e.closes > to {
			break
		}
		out = append(out, e.id)
	}
	return out
}

// Count returns the number of ballots.
func (s *KVState) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.order)
}

// Page returns up to limit ballot ids, newest first, among the ballots
// created before the one of index before (all of them when before is
// negative or past the end).
func (s *KVState) Page(before, limit int) []consensus.Hash {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if before < 0 || before > len(s.order) {
		before = len(s.order)
	}
	out := make([]consensus.Hash, 0, min(limit, before))
	for i := before - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.order[i])
	}
	return out
}

// Voter implements State.
func (s *KVState) Voter(ballot consensus.Hash, voter VoterKey) (VoterRecord, bool, error) {
	var r VoterRecord
	key := voterKey(VoterSlot{ballot, voter})
	s.mu.RLock()
	maybe := s.voters.mayHold(key)
	s.mu.RUnlock()
	if !maybe {
		return r, false, nil
	}
	v, found, err := s.kv.Get(key)
	if err != nil || !found {
		return r, false, err
	}
	if err := canon.Unmarshal(v, &r, maxVoterRecordBytes); err != nil {
		return r, false, fmt.Errorf("stored voter record: %w", err)
	}
	return r, true, nil
}

// Results implements State.
func (s *KVState) Results(ballot consensus.Hash) (Results, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.results[ballot]
	if !ok {
		return Results{}, false, nil
	}
	return *r.clone(), true, nil
}

// Voters implements State: every voter record of a ballot, in voter key
// order.
func (s *KVState) Voters(ballot consensus.Hash, fn func(VoterKey, VoterRecord) error) error {
	return s.VotersAfter(ballot, nil, fn)
}

// VotersAfter calls fn with the voter records of a ballot, in voter key
// order, from the first key above after (nil: from the first); fn's error
// ends the walk and is returned (ErrStop ends it without an error).
func (s *KVState) VotersAfter(ballot consensus.Hash, after *VoterKey, fn func(VoterKey, VoterRecord) error) error {
	prefix := append([]byte{prefixVoter}, ballot[:]...)
	var from []byte
	if after != nil {
		from = after[:]
	}
	err := s.kv.ScanAfter(prefix, from, func(k, v []byte) error {
		var r VoterRecord
		if err := canon.Unmarshal(v, &r, maxVoterRecordBytes); err != nil {
			return fmt.Errorf("stored voter record: %w", err)
		}
		var key VoterKey
		copy(key[:], k[len(prefix):])
		return fn(key, r)
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// Keyring implements State. The keyring is shared: callers do not change it.
func (s *KVState) Keyring(ballot consensus.Hash) (*Keyring, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keyrings[ballot]
	return k, ok, nil
}

// ErrStop, returned by a walk's callback, ends the walk without an error.
var ErrStop = errors.New("stop")
