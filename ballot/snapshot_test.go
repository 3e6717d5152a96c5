package ballot_test

import (
	"bytes"
	"errors"
	"maps"
	"math"
	mrand "math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// snapChain is a chain's ballot state over a memKV, each block applied as
// a node applies it: the batch over the KVState (whose records list reads
// its leaves from the store, as a node's), its writes stored, then the
// update remembered.
type snapChain struct {
	kv     *memKV
	st     *ballot.KVState
	height uint64
}

func newSnapChain(tb testing.TB) *snapChain {
	tb.Helper()
	kv := newMemKV()
	st, err := ballot.NewStoredKVState(testRules, kv, kv.put, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return &snapChain{kv: kv, st: st}
}

// block applies txs as the next block, at block time t.
func (c *snapChain) block(tb testing.TB, t int64, txs ...*ballot.Checked) {
	tb.Helper()
	c.height++
	b := ballot.NewBatch(c.st, testRules, c.height, t)
	for _, tx := range txs {
		if err := b.Add(tx); err != nil {
			tb.Fatalf("block %d: %s: %v", c.height, tx.Kind(), err)
		}
	}
	u, err := b.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	c.kv.Write(u.Writes())
	c.st.Remember(u)
}

// snapFixture is a state of three ballots over six blocks: an open one
// with re-votes, a sealed one (its keyring dealt, sealed casts and
// re-votes) and an open one without re-votes defined later, so that
// ballot records, keyring and voter records interleave in the records
// list: 68 records, four chunks of 16 and a last one of 4.
type snapFixture struct {
	*snapChain
	open, sealed, single *ballottest.Election
	// next is a block of re-votes and a new voter, for after the snapshot
	// (block time 11,000).
	next []*ballot.Checked
}

const fixtureRecords = 68

func newSnapFixture(tb testing.TB) *snapFixture {
	tb.Helper()
	f := &snapFixture{
		snapChain: newSnapChain(tb),
		open:      ballottest.NewElection(ballottest.Options{Revote: true, Seed: 90}),
		sealed:    ballottest.NewElection(ballottest.Options{Seed: 91, Keykeepers: 5, Threshold: 3, Opens: 2000, Closes: 1e12, Revote: true}),
		single:    ballottest.NewElection(ballottest.Options{Seed: 92, Choices: []string{"yes", "no"}}),
	}
	voters := func(e *ballottest.Election, n int) []*ballottest.Voter {
		vs := make([]*ballottest.Voter, n)
		for i := range vs {
			vs[i] = e.NewVoter()
		}
		return vs
	}
	openVoters, sealedVoters, singleVoters := voters(f.open, 33), voters(f.sealed, 10), voters(f.single, 22)
	cast := func(v *ballottest.Voter, seq uint64, choice uint32) *ballot.Checked {
		return ballottest.Checked(f.open.Cast(v, seq, choice))
	}

	f.block(tb, 1000, f.open.DefinitionTx(), f.sealed.DefinitionTx())
	var deals []*ballot.Checked
	for i := range f.sealed.Keykeepers {
		tx := &ballot.Tx{Deal: f.sealed.Deal(i)}
		deals = append(deals, &ballot.Checked{ID: tx.ID(), Bytes: tx.Encode(), Deal: tx.Deal})
	}
	f.block(tb, 1001, deals...)
	k, _, _ := f.st.Keyring(f.sealed.Ballot.ID)
	key, err := k.ElectionKey(f.sealed.Rules.Chain, f.sealed.Ballot)
	if err != nil {
		tb.Fatal(err)
	}
	sealedCast := func(v *ballottest.Voter, seq uint64, choice uint32) *ballot.Checked {
		return ballottest.Checked(f.sealed.SealedCast(v, seq, choice, key))
	}

	var txs []*ballot.Checked
	for i, v := range openVoters[:20] {
		txs = append(txs, cast(v, 1, uint32(i%3)))
	}
	for i, v := range sealedVoters {
		txs = append(txs, sealedCast(v, 1, uint32(i%3)))
	}
	f.block(tb, 2000, txs...)

	txs = []*ballot.Checked{f.single.DefinitionTx()}
	for i, v := range singleVoters[:21] {
		txs = append(txs, ballottest.Checked(f.single.Cast(v, 1, uint32(i%2))))
	}
	f.block(tb, 2500, txs...)

	txs = nil
	for i, v := range openVoters[:8] {
		txs = append(txs, cast(v, 2, uint32(i+1)%3))
	}
	for i, v := range sealedVoters[:3] {
		txs = append(txs, sealedCast(v, 2, uint32(i+2)%3))
	}
	for i, v := range openVoters[20:] {
		txs = append(txs, cast(v, 1, uint32(i%3)))
	}
	f.block(tb, 5000, txs...)

	txs = nil
	for i, v := range openVoters[:4] {
		txs = append(txs, cast(v, 3, uint32(i)%3))
	}
	f.block(tb, 8000, txs...)

	f.next = []*ballot.Checked{cast(openVoters[0], 4, 2), cast(openVoters[5], 3, 0), sealedCast(sealedVoters[9], 2, 1),
		ballottest.Checked(f.single.Cast(singleVoters[21], 1, 1))}
	if n := f.st.RecordsList().Len(); n != fixtureRecords {
		tb.Fatalf("the fixture has %d records, want %d", n, fixtureRecords)
	}
	return f
}

func (f *snapFixture) ids() []consensus.Hash {
	return []consensus.Hash{f.open.Ballot.ID, f.sealed.Ballot.ID, f.single.Ballot.ID}
}

// blockHash stands for the hash of the block the snapshot is taken after:
// nothing in the package checks it.
var blockHash = consensus.Sum([]byte("block"))

func (f *snapFixture) manifest(tb testing.TB, bits uint8) *ballot.Manifest {
	tb.Helper()
	m, err := f.st.Manifest(f.height, blockHash, bits)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// readChunks returns every chunk of a list of m, read from r.
func readChunks(tb testing.TB, r ballot.SnapshotReader, m *ballot.Manifest, list uint8) [][]byte {
	tb.Helper()
	var out [][]byte
	for i := range m.Chunks(list) {
		data, err := ballot.ReadChunk(r, m, list, uint32(i))
		if err != nil {
			tb.Fatalf("chunk %d of list %d: %v", i, list, err)
		}
		out = append(out, data)
	}
	return out
}

// restore reads every chunk of both lists of m from src, checks each
// against m and writes what it holds into a fresh store, as a joining
// node does.
func restore(tb testing.TB, src ballot.SnapshotReader, m *ballot.Manifest) *memKV {
	tb.Helper()
	dst := newMemKV()
	for _, list := range []uint8{ballot.ListResults, ballot.ListRecords} {
		for i, data := range readChunks(tb, src, m, list) {
			if len(data) > ballot.MaxChunkBytes {
				tb.Fatalf("chunk %d of list %d: %d bytes", i, list, len(data))
			}
			writes, err := ballot.VerifyChunk(m, list, uint32(i), data)
			if err != nil {
				tb.Fatalf("chunk %d of list %d: %v", i, list, err)
			}
			dst.Write(writes)
		}
	}
	return dst
}

func TestASnapshotCutIntoChunksRebuildsTheSameStateAndAppHash(t *testing.T) {
	f := newSnapFixture(t)
	m := f.manifest(t, 4)
	if m.Height != f.height || m.BlockHash != blockHash || m.AppHash != f.st.AppHash() || m.ChunkBits != 4 ||
		m.Ballots != 3 || len(m.ResultsRoots) != 1 || m.Records != fixtureRecords || len(m.RecordsRoots) != 5 {
		t.Fatalf("manifest %+v", m)
	}
	got, err := ballot.DecodeManifest(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("decoded manifest %+v, want %+v", got, m)
	}

	fresh := restore(t, f.kv, got)
	// The chunks carry the whole store: every record, results and index
	// entry, byte for byte.
	if !maps.EqualFunc(fresh.m, f.kv.m, bytes.Equal) {
		t.Fatalf("restored store of %d keys differs from the original's %d", len(fresh.m), len(f.kv.m))
	}
	st, err := ballot.NewKVState(testRules, fresh, f.height)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, f.st, st, f.ids()...)
	if again, err := st.Manifest(f.height, blockHash, 4); err != nil || !bytes.Equal(again.Encode(), m.Encode()) {
		t.Fatalf("the restored state's manifest differs (%v)", err)
	}

	// A state that a node holds already, reloaded from the filled store.
	empty := newMemKV()
	reloaded, err := ballot.NewKVState(testRules, empty, 0)
	if err != nil {
		t.Fatal(err)
	}
	var all []ballot.KV
	for k, v := range fresh.m {
		all = append(all, ballot.KV{Key: []byte(k), Value: v})
	}
	empty.Write(all)
	if err := reloaded.Reload(f.height); err != nil {
		t.Fatal(err)
	}
	sameState(t, f.st, reloaded, f.ids()...)

	// The restored state goes on: the next block, re-votes among them,
	// gives the same app hash and reads over both.
	restored := &snapChain{kv: fresh, st: st, height: f.height}
	restored.block(t, 11000, f.next...)
	f.block(t, 11000, f.next...)
	sameState(t, f.st, restored.st, f.ids()...)
	if !maps.EqualFunc(fresh.m, f.kv.m, bytes.Equal) {
		t.Fatal("the stores differ after the next block")
	}
}

// A snapshot at every chunk size nodes may cut restores the same store;
// chunk bits 4 to 16 give from five chunks to one.
func TestASnapshotRebuildsTheSameStoreAtEveryChunkSize(t *testing.T) {
	f := newSnapFixture(t)
	for bits := uint8(4); bits <= 16; bits++ {
		m, err := ballot.DecodeManifest(f.manifest(t, bits).Encode())
		if err != nil {
			t.Fatalf("chunk bits %d: %v", bits, err)
		}
		if want := (fixtureRecords + 1<<bits - 1) >> bits; m.Chunks(ballot.ListRecords) != want {
			t.Fatalf("chunk bits %d: %d chunks of records, want %d", bits, m.Chunks(ballot.ListRecords), want)
		}
		if fresh := restore(t, f.kv, m); !maps.EqualFunc(fresh.m, f.kv.m, bytes.Equal) {
			t.Fatalf("chunk bits %d: the restored store differs", bits)
		}
	}
}

// A store written before the records list's entries held their records
// (each "i" entry the record's key alone) serves the same chunks: its
// records are read at their keys. The entries a node writes now hold the
// key and value end to end, which a chunk is read from in one scan.
func TestAStoreWhoseEntriesHoldOnlyKeysServesTheSameChunks(t *testing.T) {
	f := newSnapFixture(t)
	m := f.manifest(t, 4)
	old := newMemKV()
	entries := 0
	for k, v := range f.kv.m {
		if k[0] == 'i' {
			key, value, ok := ballot.EntryRecord(v)
			if !ok || value == nil {
				t.Fatalf("entry %x holds %x: want its record's key and value", k[1:], v)
			}
			v = key
			entries++
		}
		old.m[k] = v
	}
	if entries != fixtureRecords {
		t.Fatalf("%d entries, want %d", entries, fixtureRecords)
	}
	want, got := readChunks(t, f.kv, m, ballot.ListRecords), readChunks(t, old, m, ballot.ListRecords)
	if !slices.EqualFunc(want, got, bytes.Equal) {
		t.Fatal("the chunks of the store whose entries hold only keys differ")
	}
	// An entry that holds no record key is damage: no chunk is made of it.
	old.m[string(ballot.EntryKey(3))] = []byte("x")
	if data, err := ballot.ReadChunk(old, m, ballot.ListRecords, 0); err == nil {
		t.Fatalf("chunk 0 read over a damaged entry: %d bytes", len(data))
	}
}

// sameState fails the test unless got reads as want: app hash, lists,
// ballots, results, keyrings, proofs and every voter record.
func sameState(t *testing.T, want, got *ballot.KVState, ids ...consensus.Hash) {
	t.Helper()
	if want.AppHash() != got.AppHash() {
		t.Fatalf("app hash %s, want %s", got.AppHash().Short(), want.AppHash().Short())
	}
	if want.RecordsList().Len() != got.RecordsList().Len() || want.ResultsList().Len() != got.ResultsList().Len() {
		t.Fatalf("lists of %d and %d leaves, want %d and %d", got.ResultsList().Len(), got.RecordsList().Len(),
			want.ResultsList().Len(), want.RecordsList().Len())
	}
	if want.Count() != got.Count() || !slices.Equal(want.Page(-1, 100), got.Page(-1, 100)) ||
		!slices.Equal(want.ClosingIn(-1, math.MaxInt64), got.ClosingIn(-1, math.MaxInt64)) {
		t.Fatal("the ballots differ in number, order or closing order")
	}
	same := func(what string, id consensus.Hash, w, g any) {
		t.Helper()
		if !reflect.DeepEqual(w, g) {
			t.Fatalf("ballot %s: %s %+v, want %+v", id.Short(), what, g, w)
		}
	}
	for _, id := range ids {
		wb, wh, wf, werr := want.BallotAt(id)
		gb, gh, gf, gerr := got.BallotAt(id)
		if werr != nil || gerr != nil || !wf || !gf {
			t.Fatalf("ballot %s: found %v %v, %v %v", id.Short(), wf, gf, werr, gerr)
		}
		same("definition", id, canon.MustMarshal(wb.Def), canon.MustMarshal(gb.Def))
		same("height", id, wh, gh)
		wi, _ := want.BallotIndex(id)
		gi, _ := got.BallotIndex(id)
		same("index", id, wi, gi)
		we, _ := want.BallotEntry(id)
		ge, _ := got.BallotEntry(id)
		same("entry", id, we, ge)
		wr, _, _ := want.Results(id)
		gr, _, _ := got.Results(id)
		same("results", id, wr, gr)
		wk, wkf, _ := want.Keyring(id)
		gk, gkf, _ := got.Keyring(id)
		same("keyring", id, wk, gk)
		same("keyring found", id, wkf, gkf)
		ws, _, _ := want.Snapshot(id)
		gs, _, _ := got.Snapshot(id)
		same("results snapshot", id, ws, gs)

		wv, gv := voterRecords(t, want, id), voterRecords(t, got, id)
		if len(wv) == 0 {
			t.Fatalf("ballot %s: no voter", id.Short())
		}
		same("voter records", id, wv, gv)
		for k, r := range wv {
			rec, found, err := got.Voter(id, k)
			if err != nil || !found || !reflect.DeepEqual(rec, r) {
				t.Fatalf("ballot %s: voter %x: %+v, found %v, %v; want %+v", id.Short(), k[:4], rec, found, err, r)
			}
		}
	}
}

func voterRecords(t *testing.T, st *ballot.KVState, id consensus.Hash) map[ballot.VoterKey]ballot.VoterRecord {
	t.Helper()
	out := map[ballot.VoterKey]ballot.VoterRecord{}
	err := st.Voters(id, func(k ballot.VoterKey, r ballot.VoterRecord) error {
		out[k] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// chunkItems decodes a chunk's items.
func chunkItems(tb testing.TB, data []byte) [][]byte {
	tb.Helper()
	var items [][]byte
	if err := canon.Unmarshal(data, &items, ballot.MaxChunkBytes); err != nil {
		tb.Fatal(err)
	}
	return items
}

// refused fails the test unless VerifyChunk refuses data as chunk index
// of list, with ErrSnapshotInvalid and no writes.
func refused(t *testing.T, what string, m *ballot.Manifest, list uint8, index uint32, data []byte) {
	t.Helper()
	writes, err := ballot.VerifyChunk(m, list, index, data)
	if !errors.Is(err, ballot.ErrSnapshotInvalid) || writes != nil {
		t.Fatalf("%s as chunk %d of list %d: %d writes, %v; want %v", what, index, list, len(writes), err, ballot.ErrSnapshotInvalid)
	}
}

// Every byte of every chunk of both lists, changed alone, makes the chunk
// fail its own check.
func TestAChunkWithOneByteChangedFailsItsCheck(t *testing.T) {
	f := newSnapFixture(t)
	m := f.manifest(t, 4)
	for _, list := range []uint8{ballot.ListResults, ballot.ListRecords} {
		for i, data := range readChunks(t, f.kv, m, list) {
			if _, err := ballot.VerifyChunk(m, list, uint32(i), data); err != nil {
				t.Fatal(err)
			}
			for at := range data {
				bad := bytes.Clone(data)
				bad[at] ^= 0x01
				refused(t, "a byte changed", m, list, uint32(i), bad)
			}
			// Changed inside an item, the chunk still decoding.
			items := chunkItems(t, data)
			for j := range items {
				for _, at := range []int{0, len(items[j]) / 2, len(items[j]) - 1} {
					bad := slices.Clone(items)
					bad[j] = bytes.Clone(items[j])
					bad[j][at] ^= 0x80
					refused(t, "an item with a byte changed", m, list, uint32(i), canon.MustMarshal(bad))
				}
			}
		}
	}
}

func TestAChunkWithAnItemDroppedAddedOrMovedOrOfAnotherPlaceFailsItsCheck(t *testing.T) {
	f := newSnapFixture(t)
	m := f.manifest(t, 4)
	results, records := readChunks(t, f.kv, m, ballot.ListResults), readChunks(t, f.kv, m, ballot.ListRecords)
	last := uint32(len(records) - 1)
	edit := func(data []byte, fn func([][]byte) [][]byte) []byte {
		return canon.MustMarshal(fn(slices.Clone(chunkItems(t, data))))
	}
	for i, data := range records {
		at := uint32(i)
		refused(t, "a record dropped", m, ballot.ListRecords, at, edit(data, func(it [][]byte) [][]byte { return it[2:] }))
		refused(t, "a record's value dropped", m, ballot.ListRecords, at, edit(data, func(it [][]byte) [][]byte { return it[:len(it)-1] }))
		refused(t, "a record added", m, ballot.ListRecords, at, edit(data, func(it [][]byte) [][]byte { return append(it, it[0], it[1]) }))
		refused(t, "an empty record added", m, ballot.ListRecords, at, edit(data, func(it [][]byte) [][]byte { return append(it, nil, nil) }))
		refused(t, "two records swapped", m, ballot.ListRecords, at, edit(data, func(it [][]byte) [][]byte {
			it[0], it[1], it[2], it[3] = it[2], it[3], it[0], it[1]
			return it
		}))
		refused(t, "a key and its value swapped", m, ballot.ListRecords, at, edit(data, func(it [][]byte) [][]byte {
			it[0], it[1] = it[1], it[0]
			return it
		}))
		refused(t, "the next chunk", m, ballot.ListRecords, at, records[(i+1)%len(records)])
		refused(t, "a results chunk", m, ballot.ListRecords, at, results[0])
		refused(t, "a byte appended", m, ballot.ListRecords, at, append(bytes.Clone(data), 0))
	}
	refused(t, "a results chunk with its results dropped", m, ballot.ListResults, 0, edit(results[0], func(it [][]byte) [][]byte { return it[1:] }))
	refused(t, "a results chunk with results added", m, ballot.ListResults, 0, edit(results[0], func(it [][]byte) [][]byte { return append(it, it[0]) }))
	refused(t, "a results chunk with two results swapped", m, ballot.ListResults, 0, edit(results[0], func(it [][]byte) [][]byte {
		it[0], it[1] = it[1], it[0]
		return it
	}))
	refused(t, "a records chunk", m, ballot.ListResults, 0, records[0])
	refused(t, "the last records chunk", m, ballot.ListResults, 0, records[last])
	for _, data := range [][]byte{nil, {}, {0x80}, {0xa0}, {0xff}, canon.MustMarshal([][]byte{})} {
		refused(t, "not a chunk", m, ballot.ListRecords, 0, data)
		refused(t, "not a chunk", m, ballot.ListResults, 0, data)
	}

	// Out of range: past each list's last chunk, or a list that does not
	// exist; ReadChunk refuses to read them.
	for _, c := range []struct {
		list  uint8
		index uint32
	}{{ballot.ListResults, 1}, {ballot.ListRecords, last + 1}, {ballot.ListRecords, math.MaxUint32}, {2, 0}, {255, 0}} {
		refused(t, "a chunk out of range", m, c.list, c.index, records[0])
		if data, err := ballot.ReadChunk(f.kv, m, c.list, c.index); err == nil {
			t.Fatalf("chunk %d of list %d read: %d bytes", c.index, c.list, len(data))
		}
	}
}

// RecordLeaf hashes a record's state key and value as one string, so a
// chunk can move the boundary between them and keep the chunk's root.
// VerifyChunk must refuse such a chunk: it would write records under keys
// the validators never wrote.
func TestAChunkWithARecordsKeyValueBoundaryMovedFailsItsCheck(t *testing.T) {
	f := newSnapFixture(t)
	m := f.manifest(t, 4)
	for _, into := range []string{"value", "key"} {
		items := chunkItems(t, readChunks(t, f.kv, m, ballot.ListRecords)[1])
		key, value := items[0], items[1]
		if into == "value" {
			items[0], items[1] = key[:len(key)-1], append(key[len(key)-1:], value...)
		} else {
			items[0], items[1] = append(bytes.Clone(key), value[0]), value[1:]
		}
		writes, err := ballot.VerifyChunk(m, ballot.ListRecords, 1, canon.MustMarshal(items))
		if err == nil {
			t.Fatalf("records chunk 1 with one byte of its first key moved into its %s passes (%d writes, the first under a key of %d bytes, not %d)",
				into, len(writes), len(writes[0].Key), len(key))
		}
		if !errors.Is(err, ballot.ErrSnapshotInvalid) {
			t.Fatalf("a byte moved into the %s: %v, want %v", into, err, ballot.ErrSnapshotInvalid)
		}
	}
}

// decodeRefused fails the test unless DecodeManifest refuses m's bytes
// with ErrSnapshotInvalid.
func decodeRefused(t *testing.T, what string, data []byte) {
	t.Helper()
	if got, err := ballot.DecodeManifest(data); !errors.Is(err, ballot.ErrSnapshotInvalid) || got != nil {
		t.Fatalf("%s: manifest %+v, %v; want %v", what, got, err, ballot.ErrSnapshotInvalid)
	}
}

// mutated returns the bytes of a copy of m changed by fn.
func mutated(m *ballot.Manifest, fn func(*ballot.Manifest)) []byte {
	c := *m
	c.ResultsRoots, c.RecordsRoots = slices.Clone(m.ResultsRoots), slices.Clone(m.RecordsRoots)
	fn(&c)
	return c.Encode()
}

func TestAManifestWhoseRootsDoNotHashToItsAppHashIsRefused(t *testing.T) {
	f := newSnapFixture(t)
	m := f.manifest(t, 4)
	for what, fn := range map[string]func(*ballot.Manifest){
		"another app hash":           func(c *ballot.Manifest) { c.AppHash[31] ^= 1 },
		"the previous app hash":      func(c *ballot.Manifest) { c.AppHash = ballot.EmptyAppHash() },
		"a records root changed":     func(c *ballot.Manifest) { c.RecordsRoots[2][0] ^= 1 },
		"the last records root":      func(c *ballot.Manifest) { c.RecordsRoots[4][31] ^= 1 },
		"the results root changed":   func(c *ballot.Manifest) { c.ResultsRoots[0][7] ^= 1 },
		"two records roots swapped":  func(c *ballot.Manifest) { c.RecordsRoots[0], c.RecordsRoots[1] = c.RecordsRoots[1], c.RecordsRoots[0] },
		"the results root as record": func(c *ballot.Manifest) { c.RecordsRoots[0] = c.ResultsRoots[0] },
		"the last chunk left out": func(c *ballot.Manifest) {
			c.RecordsRoots, c.Records = c.RecordsRoots[:4], 64
		},
		"a chunk added": func(c *ballot.Manifest) {
			c.RecordsRoots, c.Records = append(c.RecordsRoots, c.RecordsRoots[4]), fixtureRecords+16
		},
	} {
		decodeRefused(t, what, mutated(m, fn))
	}
}

func TestAMalformedManifestIsRefused(t *testing.T) {
	f := newSnapFixture(t)
	m := f.manifest(t, 4)
	for what, fn := range map[string]func(*ballot.Manifest){
		"height 0":                          func(c *ballot.Manifest) { c.Height = 0 },
		"chunk bits 0":                      func(c *ballot.Manifest) { c.ChunkBits = 0 },
		"chunk bits 3":                      func(c *ballot.Manifest) { c.ChunkBits = 3 },
		"chunk bits 17":                     func(c *ballot.Manifest) { c.ChunkBits = 17 },
		"chunk bits 255":                    func(c *ballot.Manifest) { c.ChunkBits = 255 },
		"chunk bits 5, same roots":          func(c *ballot.Manifest) { c.ChunkBits = 5 },
		"no ballot":                         func(c *ballot.Manifest) { c.Ballots = 0 },
		"no record":                         func(c *ballot.Manifest) { c.Records = 0 },
		"more ballots than records":         func(c *ballot.Manifest) { c.Ballots = c.Records + 1 },
		"2^40+1 records":                    func(c *ballot.Manifest) { c.Records = 1<<40 + 1 },
		"a records root more":               func(c *ballot.Manifest) { c.RecordsRoots = append(c.RecordsRoots, consensus.Hash{}) },
		"a records root less":               func(c *ballot.Manifest) { c.RecordsRoots = c.RecordsRoots[:4] },
		"a results root more":               func(c *ballot.Manifest) { c.ResultsRoots = append(c.ResultsRoots, c.ResultsRoots[0]) },
		"no results root":                   func(c *ballot.Manifest) { c.ResultsRoots = nil },
		"no records root":                   func(c *ballot.Manifest) { c.RecordsRoots = nil },
		"the lists' roots swapped":          func(c *ballot.Manifest) { c.ResultsRoots, c.RecordsRoots = c.RecordsRoots, c.ResultsRoots },
		"records of one chunk more":         func(c *ballot.Manifest) { c.Records += 16 },
		"ballots of one chunk more":         func(c *ballot.Manifest) { c.Ballots += 16 },
		"records of one chunk less":         func(c *ballot.Manifest) { c.Records -= 16 },
		"more chunks than a manifest holds": func(c *ballot.Manifest) { c.Records, c.RecordsRoots = 250_001<<4, make([]consensus.Hash, 250_001) },
		"a zero manifest but height":        func(c *ballot.Manifest) { *c = ballot.Manifest{Height: 1} },
	} {
		decodeRefused(t, what, mutated(m, fn))
	}
	good := m.Encode()
	for what, data := range map[string][]byte{
		"nothing":          nil,
		"not CBOR":         []byte("manifest"),
		"an array":         canon.MustMarshal([]uint64{1, 2}),
		"a byte appended":  append(bytes.Clone(good), 0),
		"cut short":        good[:len(good)-1],
		"an unknown field": canon.MustMarshal(map[uint64]any{1: m.Height, 9: 1}),
		"too large":        make([]byte, 8<<20+1025),
	} {
		decodeRefused(t, what, data)
	}
}

// The manifest's counts are not in the app hash: a manifest whose record
// count is off within its last chunk decodes, but then no chunk fits its
// last root (RFC 6962 separates leaves from nodes), so it can only stall
// a joining node, never give it another state. The honest chunks before
// the last still pass.
func TestAManifestWithACountOffInsideItsLastChunkFitsNoLastChunk(t *testing.T) {
	f := newSnapFixture(t)
	m := f.manifest(t, 4)
	lie, err := ballot.DecodeManifest(mutated(m, func(c *ballot.Manifest) { c.Records-- }))
	if err != nil {
		t.Fatalf("a count off inside the last chunk: %v (if the manifest now binds its counts, this test can go)", err)
	}
	records := readChunks(t, f.kv, m, ballot.ListRecords)
	for i, data := range records[:len(records)-1] {
		if _, err := ballot.VerifyChunk(lie, ballot.ListRecords, uint32(i), data); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	last := uint32(len(records) - 1)
	refused(t, "the honest last chunk", lie, ballot.ListRecords, last, records[last])
	refused(t, "the honest last chunk less its last record", lie, ballot.ListRecords, last, canon.MustMarshal(chunkItems(t, records[last])[:6]))
}

func TestManifestIsRefusedForAStateAtAnotherHeightOrWithoutBallots(t *testing.T) {
	c := newSnapChain(t)
	for _, h := range []uint64{0, 1} {
		if m, err := c.st.Manifest(h, blockHash, 4); err == nil {
			t.Fatalf("the empty state at height 0: manifest at %d: %+v", h, m)
		}
	}
	c.block(t, 1000)
	if m, err := c.st.Manifest(1, blockHash, 4); err == nil {
		t.Fatalf("a state of no ballot after an empty block: manifest %+v", m)
	}

	f := newSnapFixture(t)
	for _, h := range []uint64{0, 1, f.height - 1, f.height + 1, math.MaxUint64} {
		if m, err := f.st.Manifest(h, blockHash, 4); err == nil {
			t.Fatalf("state at height %d: manifest at %d: %+v", f.height, h, m)
		}
	}
	for _, bits := range []uint8{0, 3, 17, 64, 255} {
		if _, err := f.st.Manifest(f.height, blockHash, bits); !errors.Is(err, ballot.ErrSnapshotInvalid) {
			t.Fatalf("chunk bits %d: %v, want %v", bits, err, ballot.ErrSnapshotInvalid)
		}
	}
	if _, err := f.st.Manifest(f.height, blockHash, ballot.SnapshotChunkBits); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkVerifyChunkOf4096Records measures the check of one full chunk
// of the size nodes cut (SnapshotChunkBits: 4,096 leaves) of voter
// records as Batch makes them: an open ballot's, a quarter of them
// re-votes, and a sealed ballot's (each record holding a sealed choice).
// The voters' keys are random and their casts unsigned: Batch checks
// neither, and the records are the same bytes as signed casts make.
func BenchmarkVerifyChunkOf4096Records(b *testing.B) {
	const n = 1 << ballot.SnapshotChunkBits
	for _, kind := range []string{"open", "sealed"} {
		b.Run(kind, func(b *testing.B) {
			c := newSnapChain(b)
			e := ballottest.NewElection(ballottest.Options{Seed: 93, Revote: true, Opens: 2000, Closes: 1e12})
			var sealed []byte
			if kind == "sealed" {
				e = ballottest.NewElection(ballottest.Options{Seed: 94, Revote: true, Opens: 2000, Closes: 1e12, Keykeepers: 3, Threshold: 2})
				c.block(b, 1000, e.DefinitionTx())
				var deals []*ballot.Checked
				for i := range e.Keykeepers {
					tx := &ballot.Tx{Deal: e.Deal(i)}
					deals = append(deals, &ballot.Checked{ID: tx.ID(), Bytes: tx.Encode(), Deal: tx.Deal})
				}
				c.block(b, 1001, deals...)
				k, _, _ := c.st.Keyring(e.Ballot.ID)
				key, err := k.ElectionKey(e.Rules.Chain, e.Ballot)
				if err != nil {
					b.Fatal(err)
				}
				sealed = e.SealedCast(e.NewVoter(), 1, 1, key).Sealed
			} else {
				c.block(b, 1000, e.DefinitionTx())
			}
			// Two chunks of voters: the second chunk holds voter records
			// only (the first starts with the ballot's record).
			rng := mrand.New(ballottest.Seeded(95))
			keys := make([][]byte, 2*n)
			cast := func(i int, seq uint64) *ballot.Checked {
				cs := &ballot.Cast{BallotID: e.Ballot.ID, Voter: keys[i], Seq: seq, Choice: uint32(rng.IntN(3)), Sealed: sealed,
					TokenPrefix: make([]byte, 16), Token: make([]byte, 256), Signature: make([]byte, 64)}
				if sealed != nil {
					cs.Choice = 0
				}
				return ballottest.Checked(cs)
			}
			txs := make([]*ballot.Checked, len(keys))
			for i := range txs {
				keys[i] = make([]byte, 32)
				for j := range keys[i] {
					keys[i][j] = byte(rng.Uint32())
				}
				txs[i] = cast(i, 1)
			}
			c.block(b, 2000, txs...)
			var revotes []*ballot.Checked
			for i := 0; i < len(keys); i += 4 {
				revotes = append(revotes, cast(i, 2))
			}
			c.block(b, 5000, revotes...)

			m, err := c.st.Manifest(c.height, blockHash, ballot.SnapshotChunkBits)
			if err != nil {
				b.Fatal(err)
			}
			data, err := ballot.ReadChunk(c.kv, m, ballot.ListRecords, 1)
			if err != nil {
				b.Fatal(err)
			}
			if items := chunkItems(b, data); len(items) != 2*n {
				b.Fatalf("chunk 1 holds %d records", len(items)/2)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := ballot.VerifyChunk(m, ballot.ListRecords, 1, data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N*n), "µs/record")
			b.ReportMetric(float64(len(data))/n, "B/record")
		})
	}
}
