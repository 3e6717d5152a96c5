package ballot

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// State snapshots (docs/PROTOCOL.md §21). The state after a block is the
// results list and the records list; the app hash of the next header
// commits to both roots. A snapshot is cut into chunks, each an aligned
// range of 2^ChunkBits leaves of one list: a complete subtree of the
// list's RFC 6962 tree (the last chunk a partial one, the same node of
// the tree). The manifest lists every chunk's subtree root; a joining node
// checks the manifest against the signed app hash once, then each chunk
// against its root on arrival: a wrong chunk fails alone, whatever the
// others say, and names the peer that sent it.

// Snapshot lists: a chunk belongs to one.
const (
	ListResults uint8 = 0
	ListRecords uint8 = 1
)

// Bounds of snapshots.
const (
	// SnapshotChunkBits is the chunk size nodes cut: 4,096 leaves, about
	// 0.5 MiB of voter records.
	SnapshotChunkBits = 12
	minChunkBits      = 4
	maxChunkBits      = 16
	// maxSnapshotChunks bounds each list's chunk count in a manifest: the
	// canonical decoder's array bound (2^17), which a longer array would
	// not pass anyway (PROTOCOL §2, §21.2).
	maxSnapshotChunks = 1 << 17
	// MaxChunkBytes bounds a chunk on the wire (p2p.MaxChunk).
	MaxChunkBytes = 64 << 20
)

// ErrSnapshotInvalid is returned for a manifest or chunk that does not
// prove into the signed state.
var ErrSnapshotInvalid = errors.New("snapshot invalid")

// Manifest names a snapshot of the state after the block at Height: that
// block's hash, the app hash after it (the header at Height+1 carries
// it), the chunk size, and each list's length and chunk roots.
type Manifest struct {
	Height       uint64           `cbor:"1,keyasint"`
	BlockHash    consensus.Hash   `cbor:"2,keyasint"`
	AppHash      consensus.Hash   `cbor:"3,keyasint"`
	ChunkBits    uint8            `cbor:"4,keyasint"`
	Ballots      uint64           `cbor:"5,keyasint"`
	ResultsRoots []consensus.Hash `cbor:"6,keyasint"`
	Records      uint64           `cbor:"7,keyasint"`
	RecordsRoots []consensus.Hash `cbor:"8,keyasint"`
}

// Encode returns the manifest's canonical bytes.
func (m *Manifest) Encode() []byte { return canon.MustMarshal(m) }

// DecodeManifest reads a manifest and checks that it is whole: its chunk
// roots hash to its app hash. Whether that app hash is the chain's is the
// caller's check, against a header with a valid commit.
func DecodeManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := canon.Unmarshal(data, &m, 8<<20+1024); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrSnapshotInvalid, err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

func chunksOf(n uint64, bits uint8) uint64 { return (n + 1<<bits - 1) >> bits }

func (m *Manifest) check() error {
	switch {
	case m.Height == 0:
		return fmt.Errorf("%w: manifest of height 0", ErrSnapshotInvalid)
	case m.ChunkBits < minChunkBits || m.ChunkBits > maxChunkBits:
		return fmt.Errorf("%w: chunks of 2^%d leaves", ErrSnapshotInvalid, m.ChunkBits)
	case m.Ballots == 0 || m.Records == 0 || m.Records > 1<<40 || m.Ballots > m.Records:
		return fmt.Errorf("%w: %d ballots, %d records", ErrSnapshotInvalid, m.Ballots, m.Records)
	case chunksOf(m.Ballots, m.ChunkBits) != uint64(len(m.ResultsRoots)) || chunksOf(m.Records, m.ChunkBits) != uint64(len(m.RecordsRoots)),
		len(m.ResultsRoots) > maxSnapshotChunks || len(m.RecordsRoots) > maxSnapshotChunks:
		return fmt.Errorf("%w: %d and %d chunk roots for %d ballots and %d records in chunks of 2^%d", ErrSnapshotInvalid,
			len(m.ResultsRoots), len(m.RecordsRoots), m.Ballots, m.Records, m.ChunkBits)
	}
	if got := AppHashOf(consensus.MerkleRootOfNodes(m.ResultsRoots), consensus.MerkleRootOfNodes(m.RecordsRoots)); got != m.AppHash {
		return fmt.Errorf("%w: the chunk roots hash to app hash %s, the manifest says %s", ErrSnapshotInvalid, got.Short(), m.AppHash.Short())
	}
	return nil
}

// Chunks returns how many chunks a list has.
func (m *Manifest) Chunks(list uint8) int {
	if list == ListResults {
		return len(m.ResultsRoots)
	}
	return len(m.RecordsRoots)
}

// Manifest returns the manifest of the state as it is now, after the
// block at height whose hash is block. The caller is the goroutine that
// applies blocks, between two blocks (as the snapshot is taken).
func (s *KVState) Manifest(height uint64, block consensus.Hash, bits uint8) (*Manifest, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.list.Len() == 0 {
		return nil, fmt.Errorf("no ballot yet: nothing to snapshot")
	}
	if s.height != height {
		return nil, fmt.Errorf("the state is at height %d, not %d", s.height, height)
	}
	results, err := s.list.SubtreeRoots(int(bits))
	if err != nil {
		return nil, err
	}
	records, err := s.records.SubtreeRoots(int(bits))
	if err != nil {
		return nil, err
	}
	m := &Manifest{Height: height, BlockHash: block, ChunkBits: bits,
		Ballots: uint64(s.list.Len()), ResultsRoots: results, Records: uint64(s.records.Len()), RecordsRoots: records}
	m.AppHash = AppHashOf(s.list.Root(), s.records.Root())
	return m, m.check()
}

// SnapshotReader reads the state as a snapshot holds it.
type SnapshotReader interface {
	Get(key []byte) ([]byte, bool, error)
	// ScanRange calls fn for every key in [lower, upper), in order.
	ScanRange(lower, upper []byte, fn func(key, value []byte) error) error
}

// ReadChunk returns chunk index of a list of the snapshot m names, read
// from r (the snapshot's state): for the results list, the canonical
// results of its ballots in index order; for the records list, each
// record's state key and canonical value in place order. Its bytes are a
// CBOR array of byte strings.
func ReadChunk(r SnapshotReader, m *Manifest, list uint8, index uint32) ([]byte, error) {
	if int(index) >= m.Chunks(list) || list > ListRecords {
		return nil, fmt.Errorf("no chunk %d of list %d", index, list)
	}
	from := uint64(index) << m.ChunkBits
	var items [][]byte
	switch list {
	case ListResults:
		ids, err := ballotsByIndex(r, m.Ballots)
		if err != nil {
			return nil, err
		}
		for _, id := range ids[from:min(from+1<<m.ChunkBits, m.Ballots)] {
			v, found, err := r.Get(resultsKey(id))
			if err != nil || !found {
				return nil, fmt.Errorf("results of %s in the snapshot: found %v, %v", id.Short(), found, err)
			}
			items = append(items, v)
		}
	case ListRecords:
		// One scan of the chunk's entries, which hold their records; an
		// entry an older build wrote holds the key alone, and its record
		// is read at its key (a point read: a data block of the ledger's
		// tables read for each, most of a snapshot's serving before).
		to := min(from+1<<m.ChunkBits, m.Records)
		err := r.ScanRange(EntryKey(from), EntryKey(to), func(k, v []byte) error {
			key, value, ok := EntryRecord(bytes.Clone(v))
			if !ok {
				return fmt.Errorf("entry %x in the snapshot holds no record (%x)", k[1:], v)
			}
			if value == nil { // an older build's entry: the key alone
				v, found, err := r.Get(key)
				if err != nil || !found {
					return fmt.Errorf("record %x in the snapshot: found %v, %v", key, found, err)
				}
				value = v
			}
			items = append(items, key, value)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if uint64(len(items)) != 2*(to-from) {
			return nil, fmt.Errorf("records %d..%d: %d in the snapshot", from, to, len(items)/2)
		}
	}
	return canon.MustMarshal(items), nil
}

// ballotsByIndex returns the ballot ids of a snapshot in index order.
func ballotsByIndex(r SnapshotReader, n uint64) ([]consensus.Hash, error) {
	type rec struct {
		id    consensus.Hash
		index uint64
	}
	var recs []rec
	err := r.ScanRange([]byte{prefixBallot}, []byte{prefixBallot + 1}, func(k, v []byte) error {
		var br BallotRecord
		if err := canon.Unmarshal(v, &br, MaxTxBytes+64); err != nil {
			return fmt.Errorf("stored ballot %x: %w", k[1:], err)
		}
		var id consensus.Hash
		copy(id[:], k[1:])
		recs = append(recs, rec{id, br.Index})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(recs, func(a, b rec) int { return cmp.Compare(a.index, b.index) })
	if uint64(len(recs)) < n {
		return nil, fmt.Errorf("%d ballots in the snapshot, its manifest says %d", len(recs), n)
	}
	ids := make([]consensus.Hash, n)
	for i := range ids {
		ids[i] = recs[i].id
	}
	return ids, nil
}

// VerifyChunk checks chunk index of a list against the manifest's root
// for it and returns the state writes it holds: the results under their
// ballot's key, or the records with the records list's index entries and
// leaves.
// The bytes of each item are hashed as they came: a chunk that passes is
// exactly what the validators hashed.
func VerifyChunk(m *Manifest, list uint8, index uint32, data []byte) ([]KV, error) {
	if int(index) >= m.Chunks(list) || list > ListRecords {
		return nil, fmt.Errorf("%w: no chunk %d of list %d", ErrSnapshotInvalid, index, list)
	}
	var items [][]byte
	if err := canon.Unmarshal(data, &items, MaxChunkBytes); err != nil {
		return nil, fmt.Errorf("%w: chunk %d/%d: %v", ErrSnapshotInvalid, list, index, err)
	}
	from := uint64(index) << m.ChunkBits
	total, roots := m.Ballots, m.ResultsRoots
	per := 1
	if list == ListRecords {
		total, roots, per = m.Records, m.RecordsRoots, 2
	}
	root := roots[index]
	want := min(from+1<<m.ChunkBits, total) - from
	if uint64(len(items)) != want*uint64(per) {
		return nil, fmt.Errorf("%w: chunk %d/%d holds %d items, want %d", ErrSnapshotInvalid, list, index, len(items)/per, want)
	}
	leaves := make([]consensus.Hash, want)
	for i := range leaves {
		if list == ListResults {
			leaves[i] = consensus.LeafHash(items[i])
			continue
		}
		// A record's leaf hashes its key and value end to end: the key's
		// first byte fixes its length, so the split is the key's shape.
		if !recordKeyShape(items[2*i]) {
			return nil, fmt.Errorf("%w: chunk %d/%d: record %d has no state key's shape (%x)", ErrSnapshotInvalid, list, index, i, items[2*i])
		}
		leaves[i] = RecordLeaf(items[2*i], items[2*i+1])
	}
	if got := consensus.MerkleRootOfNodes(leaves); got != root {
		return nil, fmt.Errorf("%w: chunk %d/%d hashes to %s, the manifest's root is %s", ErrSnapshotInvalid, list, index, got.Short(), root.Short())
	}
	if list == ListResults {
		writes := make([]KV, 0, len(items))
		for i := range leaves {
			var r Results
			if err := canon.Unmarshal(items[i], &r, 4096); err != nil {
				return nil, fmt.Errorf("%w: results %d: %v", ErrSnapshotInvalid, from+uint64(i), err)
			}
			writes = append(writes, KV{resultsKey(r.BallotID), items[i]})
		}
		return writes, nil
	}
	return recordWrites(from, items, leaves), nil
}

// recordWrites are the state writes of a chunk of records (items, key
// then value for each, from entry from on) whose leaves are checked: the
// records at their keys, then their entries, then their leaves. Those of
// a kind come one after the other, the entries and leaves in key order,
// which a ledger's memtable takes faster than interleaved with the
// records' random keys; their keys and values are cut from a few
// buffers rather than allocated one by one.
func recordWrites(from uint64, items [][]byte, leaves []consensus.Hash) []KV {
	n := len(leaves)
	writes := make([]KV, 3*n)
	keys := make([]byte, 0, 2*n*9) // "i" and "l" ‖ be64(entry)
	size := 0
	for _, it := range items {
		size += len(it)
	}
	values := make([]byte, 0, size)
	for i := range n {
		key, value := items[2*i], items[2*i+1]
		writes[i] = KV{key, value}
		e := from + uint64(i)
		keys = binary.BigEndian.AppendUint64(append(keys, prefixEntry), e)
		at := len(values)
		values = append(append(values, key...), value...)
		writes[n+i] = KV{keys[len(keys)-9 : len(keys) : len(keys)], values[at:len(values):len(values)]}
		keys = binary.BigEndian.AppendUint64(append(keys, prefixLeaf), e)
		writes[2*n+i] = KV{keys[len(keys)-9 : len(keys) : len(keys)], leaves[i][:]}
	}
	return writes
}

// recordKeyShape reports whether key is the state key of a record of the
// records list: "b" or "k" and a ballot id, or "v", a ballot id and a
// voter key.
func recordKeyShape(key []byte) bool {
	n := recordKeyLen(key)
	return n > 0 && len(key) == n
}
