package consensus

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The incremental list must always hash as RFC 6962's tree of its leaves:
// checked against MerkleTree built from scratch after every change, over
// seeded random sequences of sets and appends, edits applied or dropped.
// A list that reads its leaves from a store (as the records list does
// from the ledger) is checked the same way, the store written before each
// Apply as a block is.
func TestMerkleListMatchesTheRFC6962TreeAfterEveryChange(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprint("leaves read from a store ", disk), func(t *testing.T) { testMerkleListMatchesTheTree(t, disk) })
	}
}

func testMerkleListMatchesTheTree(t *testing.T, disk bool) {
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		var leaves [][]byte
		m, store := NewMerkleList(nil), &leafStore{}
		if disk {
			m = store.list(nil)
		}
		for step := 0; step < 60; step++ {
			e := m.Edit()
			next := append([][]byte(nil), leaves...)
			for k := rng.IntN(4); k >= 0; k-- {
				leaf := []byte(fmt.Sprintf("s%d-%d-%d", seed, step, k))
				if len(next) > 0 && rng.IntN(2) == 0 {
					i := rng.IntN(len(next))
					next[i] = leaf
					e.Set(i, LeafHash(leaf))
				} else {
					next = append(next, leaf)
					if got := e.Append(LeafHash(leaf)); got != len(next)-1 {
						t.Fatalf("seed %d: append returned %d, want %d", seed, got, len(next)-1)
					}
				}
			}
			if got, want := e.Root(), MerkleRoot(next); got != want {
				t.Fatalf("seed %d step %d: edit root %s, tree of %d leaves %s", seed, step, got.Short(), len(next), want.Short())
			}
			if rng.IntN(4) == 0 {
				if m.Root() != MerkleRoot(leaves) {
					t.Fatalf("seed %d step %d: a dropped edit changed the list", seed, step)
				}
				continue
			}
			store.set(next)
			m.Apply(e)
			leaves = next
			if m.Root() != MerkleRoot(leaves) || m.Len() != len(leaves) {
				t.Fatalf("seed %d step %d: applied list differs from the tree", seed, step)
			}
			if disk && rng.IntN(3) == 0 { // a node that starts again: its list from the stored leaves, in one scan
				m = store.streamed()
				if m.Root() != MerkleRoot(leaves) || m.Len() != len(leaves) {
					t.Fatalf("seed %d step %d: the list streamed from the store differs from the tree", seed, step)
				}
			}
			for i := range leaves {
				p, err := m.Proof(i)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Verify(LeafHash(leaves[i]), m.Root()); err != nil {
					t.Fatalf("seed %d step %d leaf %d of %d: %v", seed, step, i, len(leaves), err)
				}
			}
		}
	}
}

func TestEmptyMerkleListHashesAsTheEmptyTree(t *testing.T) {
	if NewMerkleList(nil).Root() != MerkleRoot(nil) {
		t.Fatal("empty list root differs from the empty tree's")
	}
}

func BenchmarkMerkleListSetOneOf100000(b *testing.B) {
	leaves := make([]Hash, 100000)
	for i := range leaves {
		leaves[i] = LeafHash([]byte(fmt.Sprint(i)))
	}
	m := NewMerkleList(leaves)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := m.Edit()
		e.Set(i%len(leaves), leaves[(i+1)%len(leaves)])
		_ = e.Root()
		m.Apply(e)
	}
}

func TestSubtreeRootsFoldToTheListRootForEverySizeAndSubtreeHeight(t *testing.T) {
	for n := 0; n <= 70; n++ {
		leaves := make([]Hash, n)
		for i := range leaves {
			leaves[i] = LeafHash([]byte{byte(i), byte(n)})
		}
		for _, m := range []*MerkleList{NewMerkleList(leaves), (&leafStore{leaves: leaves}).list(leaves)} {
			for c := 0; c <= 8; c++ {
				roots, err := m.SubtreeRoots(c)
				if err != nil {
					t.Fatal(err)
				}
				if want := (n + (1 << c) - 1) >> c; len(roots) != want {
					t.Fatalf("n=%d c=%d: %d subtree roots, want %d", n, c, len(roots), want)
				}
				if got := MerkleRootOfNodes(roots); got != m.Root() {
					t.Fatalf("n=%d c=%d: the subtree roots fold to %s, the list's root is %s", n, c, got.Short(), m.Root().Short())
				}
				for j, r := range roots {
					lo, hi := j<<c, min((j+1)<<c, n)
					if sub := NewMerkleList(leaves[lo:hi]).Root(); sub != r {
						t.Fatalf("n=%d c=%d: subtree %d is not the tree of leaves %d..%d", n, c, j, lo, hi)
					}
				}
			}
		}
	}
}

// A block's edit of the records list at the reference scale: 1,000,000
// records, a block of 5,000 casts of which half are new voters (appended)
// and half re-votes (a leaf changed anywhere). Reports µs per cast, to
// set against the ~43 µs one cast's signatures cost one core.
// go test ./consensus -run '^$' -bench RecordsBlock -benchtime 20x
func BenchmarkRecordsBlockOf5000Among1000000(b *testing.B) {
	const n, k = 1_000_000, 5_000
	leaves := make([]Hash, n)
	for i := range leaves {
		leaves[i] = LeafHash([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
	}
	m := NewMerkleList(leaves)
	rng := uint64(1)
	b.ResetTimer()
	for b.Loop() {
		e := m.EditSized(k)
		for i := range k / 2 {
			rng = rng*6364136223846793005 + 1442695040888963407
			e.Set(int(rng>>32)%n, LeafHash([]byte{byte(i), 1}))
			e.Append(LeafHash([]byte{byte(i), 2}))
		}
		m.Apply(e)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e6/float64(b.N*k), "µs/cast")
}

// The list keeps its leaves and the levels above the second, not levels 1
// and 2: 1.25 hashes a leaf instead of 2 (40 MB instead of 64 MB at a
// million records, on every node), and still the same root and proofs
// after an edit (the test above checks those against the tree for every
// size up to a few hundred leaves). What it allocates counts, not only
// what it uses: a level grown by appends to one slice would hold up to a
// quarter more (Go grows a large slice by 1.25) and leave the old array
// to the collector; in chunks, at most the last chunk of each level is
// not full.
func TestMerkleListKeepsLittleMoreThanItsLeaves(t *testing.T) {
	const n = 100_000
	leaves := make([]Hash, n)
	for i := range leaves {
		leaves[i] = LeafHash([]byte(fmt.Sprint(i)))
	}
	m := NewMerkleList(leaves[:n-1000])
	e := m.Edit()
	for _, l := range leaves[n-1000:] {
		e.Append(l)
	}
	e.Set(12345, LeafHash([]byte("changed")))
	m.Apply(e)
	kept := 0 // hashes allocated, not only used
	for _, level := range m.levels {
		for _, c := range level.chunks {
			kept += cap(c)
		}
	}
	if kept > n*5/4+2*chunkLen {
		t.Fatalf("the list of %d leaves allocates %d hashes, want at most 1.25 a leaf and two chunks", n, kept)
	}
	leaves[12345] = LeafHash([]byte("changed"))
	if m.Root() != NewMerkleList(leaves).Root() {
		t.Fatal("root after the edit differs from the list built anew")
	}
}

// Levels are kept in chunks of chunkLen hashes: a list grown across
// several chunk boundaries, by blocks of appends of varied sizes with
// changes anywhere, hashes as the tree of its leaves and proves every
// leaf next to a boundary, as does the list built at once from them.
func TestMerkleListAcrossChunkBoundariesMatchesTheTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 0))
	var leaves []Hash
	m := NewMerkleList(nil)
	for len(leaves) < 3*chunkLen+100 {
		e := m.Edit()
		for range 1 + rng.IntN(900) {
			h := LeafHash([]byte(fmt.Sprint("a", len(leaves))))
			leaves = append(leaves, h)
			e.Append(h)
		}
		for range rng.IntN(5) {
			i := rng.IntN(len(leaves))
			leaves[i] = LeafHash([]byte(fmt.Sprint("s", i, len(leaves))))
			e.Set(i, leaves[i])
		}
		m.Apply(e)
		if m.Root() != MerkleRootOfNodes(leaves) {
			t.Fatalf("%d leaves: the list's root is not the tree's", len(leaves))
		}
	}
	whole := NewMerkleList(leaves)
	for _, list := range []*MerkleList{m, whole} {
		if list.Root() != MerkleRootOfNodes(leaves) {
			t.Fatal("root differs from the tree's")
		}
		for _, b := range []int{chunkLen, 2 * chunkLen, 3 * chunkLen} {
			for _, i := range []int{b - 1, b, len(leaves) - 1} {
				if leafOf(t, list, i) != leaves[i] {
					t.Fatalf("leaf %d differs", i)
				}
				p, err := list.Proof(i)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Verify(leaves[i], list.Root()); err != nil {
					t.Fatalf("leaf %d of %d: %v", i, len(leaves), err)
				}
			}
		}
	}
}

// A builder fed the leaves in any order, across chunks, makes the list
// NewMerkleList makes of them in order; it refuses a leaf set twice and
// names the first leaf never set, wherever the hole is.
func TestMerkleListBuilderInAnyOrderIsTheListOfTheLeaves(t *testing.T) {
	const n = 2*chunkLen + 77
	leaves := make([]Hash, n)
	for i := range leaves {
		leaves[i] = LeafHash([]byte(fmt.Sprint(i)))
	}
	var b MerkleListBuilder
	for _, i := range rand.New(rand.NewPCG(3, 0)).Perm(n) {
		if !b.Set(i, leaves[i]) {
			t.Fatalf("leaf %d refused the first time", i)
		}
	}
	if b.Set(chunkLen, leaves[0]) {
		t.Fatal("a leaf set twice was taken")
	}
	if i := b.Unset(); i != -1 {
		t.Fatalf("every leaf set, yet leaf %d reported unset", i)
	}
	m := b.List()
	if m.Len() != n || m.Root() != NewMerkleList(leaves).Root() || leafOf(t, m, chunkLen) != leaves[chunkLen] {
		t.Fatal("the built list is not the list of the leaves")
	}
	for _, hole := range []int{0, 63, 64, chunkLen, n - 2} {
		var b MerkleListBuilder
		for i := range n {
			if i != hole {
				b.Set(i, leaves[i])
			}
		}
		if got := b.Unset(); got != hole {
			t.Fatalf("hole at %d: Unset says %d", hole, got)
		}
	}
}

// Where the system has mmap, a list's full chunks are mapped outside
// Go's heap (the collector would let them double): a list of 3 chunks of
// leaves holds exactly those 3 outside the heap (levels 1 and 2, folded
// to make level 3, are given back at once), a builder's chunks pass to
// its list, an Apply that fills chunks maps them, and once the
// lists are unreachable every chunk is unmapped.
func TestMerkleListChunksLiveOutsideTheHeapAndAreUnmappedWithTheList(t *testing.T) {
	if _, mapped := mapChunk(); !mapped {
		t.Skip("no mmap here: chunks are in Go's heap")
	}
	// (The chunk mapChunk just made is never unmapped: 128 KiB, a test.)
	leaves := make([]Hash, 3*chunkLen)
	for i := range leaves {
		leaves[i] = LeafHash([]byte(fmt.Sprint(i)))
	}
	mapped := func(m *MerkleList) int {
		m.mem.owned.mu.Lock()
		defer m.mem.owned.mu.Unlock()
		return len(m.mem.owned.chunks)
	}
	m := NewMerkleList(leaves)
	if got := mapped(m); got != 3 || fullChunks(m) != 3 {
		t.Fatalf("a list of 3 chunks of leaves maps %d chunks and has %d full ones, want 3", got, fullChunks(m))
	}
	e := m.Edit()
	e.Append(LeafHash([]byte("one more")))
	m.Apply(e)
	if got := mapped(m); got != 3 {
		t.Fatalf("one leaf more in a small last chunk: %d chunks mapped, want still 3", got)
	}
	e = m.Edit()
	for i := range chunkLen {
		e.Append(LeafHash([]byte(fmt.Sprint("more", i))))
	}
	m.Apply(e)
	// 4 full chunks of leaves, and level 3's 2,049 nodes in a chunk of
	// 4,096 (a chunk doubles up to chunkLen).
	if got := mapped(m); fullChunks(m) != 5 || got != 5 {
		t.Fatalf("a fourth chunk of leaves: %d chunks mapped for %d full chunks, want 5", got, fullChunks(m))
	}
	var b MerkleListBuilder
	for i, l := range leaves[:2*chunkLen] {
		b.Set(i, l)
	}
	built := b.List()
	if got := mapped(built); fullChunks(built) != 2 || got != 2 {
		t.Fatalf("a built list of 2 chunks of leaves maps %d chunks, has %d full ones, want 2", got, fullChunks(built))
	}
	if built.Root() != MerkleRootOfNodes(leaves[:2*chunkLen]) || leafOf(t, m, chunkLen) != leaves[chunkLen] {
		t.Fatal("the lists' hashes are not their leaves'")
	}
	if OffHeapBytes() < 7*int64(chunkBytes) {
		t.Fatalf("OffHeapBytes says %d, less than the 7 chunks mapped", OffHeapBytes())
	}
	owners := []*ownedChunks{m.mem.owned, built.mem.owned}
	for range 100 { // cleanups run on their own goroutine after a collection
		runtime.GC()
		left := 0
		for _, o := range owners {
			o.mu.Lock()
			left += len(o.chunks)
			o.mu.Unlock()
		}
		if left == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("chunks still mapped after their lists became unreachable")
}

// fullChunks returns how many chunks of m's levels are full-sized.
func fullChunks(m *MerkleList) (n int64) {
	for _, level := range m.levels {
		for _, c := range level.chunks {
			if cap(c) == chunkLen {
				n++
			}
		}
	}
	return n
}

// Lists read while others are dropped and collected read their own
// hashes: a list stays mapped as long as a reader uses it (each read
// keeps its list reachable to its end), whatever the collector does
// meanwhile. Run with -race it also checks the cleanup's locking.
func TestMerkleListsReadWhileOthersAreCollectedReadTheirOwnHashes(t *testing.T) {
	leaves := make([]Hash, chunkLen+5)
	for i := range leaves {
		leaves[i] = LeafHash([]byte(fmt.Sprint(i)))
	}
	root := MerkleRootOfNodes(leaves)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				i := (w*31 + i*977) % len(leaves)
				if h, _ := NewMerkleList(leaves).Leaf(i); h != leaves[i] {
					t.Errorf("leaf %d of a list dropped at once differs", i)
				}
				p, err := NewMerkleList(leaves).Proof(i)
				if err != nil || p.Verify(leaves[i], root) != nil {
					t.Errorf("proof of leaf %d of a dropped list: %v", i, err)
				}
				runtime.GC()
			}
		}()
	}
	wg.Wait()
}

func leafOf(t *testing.T, m *MerkleList, i int) Hash {
	t.Helper()
	h, err := m.Leaf(i)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// leafStore is a store of a list's leaves, as the ledger holds the
// records list's: written before the list's Apply.
type leafStore struct {
	leaves []Hash
	reads  int
	fail   error
}

func (s *leafStore) read(from int, dst []Hash) error {
	s.reads++
	if s.fail != nil {
		return s.fail
	}
	if from+len(dst) > len(s.leaves) {
		return fmt.Errorf("leaves %d..%d of %d stored", from, from+len(dst), len(s.leaves))
	}
	copy(dst, s.leaves[from:])
	return nil
}

func (s *leafStore) set(leaves [][]byte) {
	s.leaves = s.leaves[:0]
	for _, l := range leaves {
		s.leaves = append(s.leaves, LeafHash(l))
	}
}

// list returns the list of leaves (which s holds) reading them from s.
func (s *leafStore) list(leaves []Hash) *MerkleList {
	var b MerkleListBuilder
	for i, h := range leaves {
		b.Set(i, h)
	}
	return b.ListReading(s.read)
}

// streamed returns the list of the leaves s holds, made by a stream of
// them in order, as a node that starts makes it from its ledger.
func (s *leafStore) streamed() *MerkleList {
	var st MerkleListStream
	for _, h := range s.leaves {
		st.Add(h)
	}
	return st.ListReading(s.read)
}

// A list made by a stream of its leaves, in order, is the list of those
// leaves: the same root for every length across groups and chunks, the
// same after any change, and what the stream holds while it runs is the
// tree of each full group (1/16 of a hash a leaf), never the leaves.
func TestMerkleListStreamIsTheListOfItsLeavesAndHoldsASixteenthOfAHashALeaf(t *testing.T) {
	var all []Hash
	for i := range 2*chunkLen*groupLen + 40 {
		all = append(all, LeafHash([]byte(fmt.Sprint(i))))
	}
	for _, n := range []int{0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 255, 256, 257, 1000, chunkLen*groupLen - 1, chunkLen * groupLen, len(all)} {
		store := &leafStore{leaves: slices.Clone(all[:n])}
		var st MerkleListStream
		for i, h := range store.leaves {
			st.Add(h)
			if held := st.up.n + len(st.group); held > i/groupLen+groupLen {
				t.Fatalf("%d leaves: the stream holds %d hashes after %d, want at most one a group and one group", n, held, i+1)
			}
		}
		m := st.ListReading(store.read)
		if m.Root() != MerkleRootOfNodes(all[:n]) || m.Len() != n || store.reads != 0 {
			t.Fatalf("%d leaves: root %s after %d reads, want the tree's after none", n, m.Root().Short(), store.reads)
		}
		if n == 0 {
			continue
		}
		want := store.list(all[:n]) // from a builder, which held every leaf
		for k, i := range []int{0, n / 2, n - 1} {
			h := LeafHash([]byte(fmt.Sprint("changed", k)))
			e, f := m.Edit(), want.Edit()
			e.Set(i, h)
			f.Set(i, h)
			e.Append(h)
			f.Append(h)
			if e.Root() != f.Root() || e.Err() != nil {
				t.Fatalf("%d leaves: leaf %d changed and one appended, the streamed list hashes otherwise (err %v)", n, i, e.Err())
			}
			store.leaves[i] = h
			store.leaves = append(store.leaves, h)
			m.Apply(e)
			want.Apply(f)
		}
		if m.Root() != want.Root() {
			t.Fatalf("%d leaves: after the changes the lists differ", n)
		}
	}
}

// A list that reads its leaves keeps only its levels from diskLevel up
// (at most 1/8 of a hash a leaf, and two chunks), reads one group of
// leaves for a changed leaf, none for Root, and an edit that could not
// read its leaves says so instead of a root.
func TestMerkleListReadingItsLeavesKeepsAnEighthOfAHashALeafAndSaysWhenAReadFails(t *testing.T) {
	const n = 3*chunkLen + 1000
	leaves := make([]Hash, n)
	for i := range leaves {
		leaves[i] = LeafHash([]byte(fmt.Sprint(i)))
	}
	store := &leafStore{leaves: slices.Clone(leaves)}
	m := store.list(leaves)
	kept := 0
	for _, level := range m.levels {
		for _, c := range level.chunks {
			kept += cap(c)
		}
	}
	if kept > n/8+2*chunkLen {
		t.Fatalf("the list of %d leaves keeps %d hashes, want at most 1/8 a leaf and two chunks", n, kept)
	}
	if m.Root() != MerkleRootOfNodes(leaves) || store.reads != 0 {
		t.Fatalf("root %s after %d reads, want the tree's after none", m.Root().Short(), store.reads)
	}
	e := m.Edit()
	e.Set(12345, LeafHash([]byte("changed")))
	leaves[12345] = LeafHash([]byte("changed"))
	if e.Root() != MerkleRootOfNodes(leaves) || e.Err() != nil || store.reads != 1 {
		t.Fatalf("a changed leaf: %d reads (want 1), err %v, root right %v", store.reads, e.Err(), e.Root() == MerkleRootOfNodes(leaves))
	}
	store.leaves[12345] = leaves[12345]
	m.Apply(e)
	store.fail = fmt.Errorf("disk on fire")
	e = m.Edit()
	e.Set(7, LeafHash([]byte("again")))
	e.Root()
	if e.Err() == nil || !strings.Contains(e.Err().Error(), "disk on fire") {
		t.Fatalf("a failed read: Err %v", e.Err())
	}
	if _, err := m.Proof(7); err == nil {
		t.Fatal("a proof whose leaves could not be read was given")
	}
	if m.Root() != MerkleRootOfNodes(leaves) {
		t.Fatal("a failed edit changed the list")
	}
}

// One re-vote among a million records, leaves read from a store (a
// slice: the ledger's scan costs on top): the hashing it costs.
func BenchmarkMerkleListReadingItsLeavesSetOneOf1000000(b *testing.B) {
	leaves := make([]Hash, 1_000_000)
	for i := range leaves {
		leaves[i] = LeafHash([]byte(fmt.Sprint(i)))
	}
	store := &leafStore{leaves: leaves}
	m := store.list(leaves)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := m.Edit()
		j := (i * 7919) % len(leaves)
		e.Set(j, leaves[(j+1)%len(leaves)])
		_ = e.Root()
		store.leaves[j] = leaves[(j+1)%len(leaves)]
		m.Apply(e)
	}
}
