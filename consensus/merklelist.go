package consensus

import (
	"crypto/sha256"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
)

// MerkleList is a list of leaf hashes whose RFC 6962 tree hash (§5 of
// docs/PROTOCOL.md, the same tree as a block's transactions) is kept up to
// date as leaves change or are appended: each change costs O(log n)
// hashes, not a rebuild. The application keeps its results in one (the
// app hash), so that a block that touches k ballots costs O(k log n)
// whatever the number of ballots on the chain.
//
// Changes are made in an Edit, an overlay that leaves the list untouched
// until Apply: a proposal can be hashed, then dropped. Not safe for
// concurrent use; the zero value is the empty list.
type MerkleList struct {
	// levels[0] are the leaf hashes; levels[l+1][j] is the node over
	// levels[l][2j] and levels[l][2j+1], or levels[l][2j] promoted when it
	// has no right neighbour (which is RFC 6962's tree, see foldLevel).
	// The levels stored does not say (empty) are computed from the
	// leaves when needed.
	levels []hashes
	n      int
	root   Hash       // the tree hash, kept so that Root reads nothing
	mem    *offHeap   // the full chunks of the levels (offheap.go)
	read   LeafReader // the leaves' store, if they are not kept here
}

// LeafReader reads leaves from, from+1, … into dst, from a store that
// holds a list's leaves: what it holds as of the list's last change
// (made before Apply, or at the same time for readers of the list). A
// list that reads its leaves keeps only the levels from diskLevel up:
// 1/8 of a hash a leaf, instead of 1.25 hashes with its leaves.
type LeafReader func(from int, dst []Hash) error

// diskLevel is the lowest level a list that reads its leaves keeps.
// Changing one leaf then reads its group of 16 leaves at once (one short
// scan of the store) and hashes ≈ 15 nodes (≈ 3 µs) on top of the 4 of
// its path; an appended run reads at most one group. At the reference
// scale (40 million records) the records list is 160 MB instead of 1.6 GB
// on every node.
const (
	diskLevel = 4
	groupLen  = 1 << diskLevel
)

// arena returns the list's chunks' owner, made on first use.
func (m *MerkleList) arena() *offHeap {
	if m.mem == nil {
		m.mem = newOffHeap()
	}
	return m.mem
}

// hashes is one level of a MerkleList, in chunks of chunkLen hashes: a
// level that grows never copies more than its last chunk. (One slice of
// a million leaves grows by a copy to 1.25 times its size, the old one
// left to the collector: 72 MB for a while instead of 32, on every node
// of a process at the same block.)
type hashes struct {
	chunks [][]Hash // each full (chunkLen) but the last
	n      int
}

const (
	chunkBits = 12 // 4,096 hashes, 128 KiB
	chunkLen  = 1 << chunkBits
)

func (h *hashes) at(i int) Hash     { return h.chunks[i>>chunkBits][i&(chunkLen-1)] }
func (h *hashes) set(i int, v Hash) { h.chunks[i>>chunkBits][i&(chunkLen-1)] = v }
func (h *hashes) ref(i int) *Hash   { return &h.chunks[i>>chunkBits][i&(chunkLen-1)] }
func (h *hashes) slice() []Hash     { return slices.Concat(h.chunks...) }

// add appends v. The last chunk doubles up to chunkLen, so a small list
// (the results of a few ballots) stays small; full chunks come from o.
func (h *hashes) add(v Hash, o *offHeap) {
	last := len(h.chunks) - 1
	if last < 0 || len(h.chunks[last]) == chunkLen {
		h.chunks = append(h.chunks, nil)
		last++
	}
	c := h.chunks[last]
	if len(c) == cap(c) {
		if size := min(max(2*cap(c), 4), chunkLen); size < chunkLen {
			c = append(make([]Hash, 0, size), c...)
		} else {
			c = append(o.chunk(), c...)
		}
	}
	h.chunks[last] = append(c, v)
	h.n++
}

// fromSlice returns the level of hs, copied, its full chunks from o.
func fromSlice(hs []Hash, o *offHeap) hashes {
	h := hashes{n: len(hs)}
	for len(hs) > 0 {
		k := min(len(hs), chunkLen)
		c := make([]Hash, 0, k)
		if k == chunkLen {
			c = o.chunk()
		}
		h.chunks = append(h.chunks, append(c, hs[:k]...))
		hs = hs[k:]
	}
	return h
}

// fold returns the level above h, as foldLevel does for a slice.
func (h *hashes) fold(o *offHeap) hashes {
	var next hashes
	for i := 0; i < h.n; i += 2 {
		if i+1 < h.n {
			next.add(nodeHash(h.ref(i), h.ref(i+1)), o)
		} else {
			next.add(h.at(i), o)
		}
	}
	return next
}

// unstoredLevels is how many levels above the leaves a MerkleList does
// not keep. Every level kept costs half the one below: all of them, twice
// the leaves (64 MB at a million records, on every node); without levels
// 1 and 2, 1.25 times (40 MB). A node of those levels costs at most 3
// hashes of the leaves below it, and a change needs one per level: 4 more
// hashes (≈ 1 µs) for a leaf changed alone, none for appended runs, whose
// neighbours changed too. (Without level 3 too, 1.125 times, but 11 more
// hashes a change, ≈ 2 µs a re-vote on every node.)
const unstoredLevels = 2

// stored reports whether m keeps level l.
func (m *MerkleList) stored(l int) bool {
	if m.read != nil {
		return l >= diskLevel
	}
	return l == 0 || l > unstoredLevels
}

// NewMerkleList returns the list of the given leaf hashes.
func NewMerkleList(leaves []Hash) *MerkleList {
	o := newOffHeap()
	return listOf(fromSlice(leaves, o), o, nil)
}

// listOf returns the list whose leaves are level, which it keeps with
// the chunks' owner o.
func listOf(level hashes, o *offHeap, read LeafReader) *MerkleList {
	m := &MerkleList{mem: o, n: level.n, read: read}
	if level.n == 0 {
		return m
	}
	if read != nil && level.n > groupLen/2 { // (8 leaves or fewer: no level 4)
		// Straight to level diskLevel, each node the tree of its group of
		// leaves, as a stream makes it: levels 1 to 3 (7/8 of a hash a
		// leaf, at the start of a node) are never made.
		s := MerkleListStream{mem: o}
		for i := range level.n {
			s.Add(level.at(i))
		}
		o.release(level)
		return s.ListReading(read)
	}
	m.levels = []hashes{level}
	return m.foldFrom(level, o)
}

// foldFrom makes m's levels above level, its last, and its root, then
// lets go of the levels m does not keep.
func (m *MerkleList) foldFrom(level hashes, o *offHeap) *MerkleList {
	for level.n > 1 {
		level = level.fold(o)
		m.levels = append(m.levels, level)
	}
	m.root = level.at(0)
	for l := range m.levels {
		if !m.stored(l) {
			o.release(m.levels[l])
			m.levels[l] = hashes{}
		}
	}
	return m
}

// groupRoot returns the root of the tree of one group's leaves (at most
// groupLen), which it overwrites.
func groupRoot(group []Hash) Hash {
	for len(group) > 1 {
		group = foldLevel(group, group[:0])
	}
	return group[0]
}

// MerkleListStream makes a list that reads its leaves from a store, from
// those leaves in order (one scan of the store), keeping only what that
// list keeps: the tree of each group of groupLen leaves as it fills, 1/16
// of a hash a leaf, never the leaves (at the reference scale, 40 million
// records: 80 MB while it runs instead of 1.3 GB). The zero value is
// ready.
type MerkleListStream struct {
	up    hashes // level diskLevel so far: a node a full group
	group []Hash // the leaves of the group being filled
	n     int
	mem   *offHeap
}

// Add appends leaf h.
func (s *MerkleListStream) Add(h Hash) {
	if s.mem == nil {
		s.mem = newOffHeap()
	}
	if s.group == nil {
		s.group = make([]Hash, 0, groupLen)
	}
	s.group = append(s.group, h)
	s.n++
	if len(s.group) == groupLen {
		s.up.add(groupRoot(s.group), s.mem)
		s.group = s.group[:0]
	}
}

// Len returns the number of leaves added.
func (s *MerkleListStream) Len() int { return s.n }

// ListReading returns the list of the leaves added, which reads them
// with read, as MerkleListBuilder.ListReading does: the store must hold
// them. The stream must not be used afterwards.
func (s *MerkleListStream) ListReading(read LeafReader) *MerkleList {
	if s.n <= groupLen/2 { // no level diskLevel: from the leaves, as a builder does
		if s.mem == nil {
			s.mem = newOffHeap()
		}
		return listOf(fromSlice(s.group, s.mem), s.mem, read)
	}
	if len(s.group) > 0 {
		s.up.add(groupRoot(s.group), s.mem)
	}
	m := &MerkleList{mem: s.mem, n: s.n, read: read, levels: make([]hashes, diskLevel, diskLevel+1)}
	m.levels = append(m.levels, s.up)
	return m.foldFrom(s.up, s.mem)
}

// MerkleListBuilder gathers a list's leaves in any order (a scan of the
// store finds them by key) straight into the list's chunks: no slice of
// all the leaves beside the list, grown by copies then copied again (at
// the reference scale, 40 million leaves: 1.3 GB).
type MerkleListBuilder struct {
	leaves hashes
	set    []uint64 // a bit a leaf: set already
	mem    *offHeap
}

// Set makes leaf i h; the list grows to i+1 leaves if it is shorter.
// It reports false, and changes nothing, if leaf i was set before.
func (b *MerkleListBuilder) Set(i int, h Hash) bool {
	for b.leaves.n <= i {
		b.leaves.add(Hash{}, b.arena())
	}
	for len(b.set) <= i/64 {
		b.set = append(b.set, 0)
	}
	if b.set[i/64]&(1<<(i%64)) != 0 {
		return false
	}
	b.set[i/64] |= 1 << (i % 64)
	b.leaves.set(i, h)
	return true
}

// Unset returns the first leaf below the highest set that was not set,
// or -1.
func (b *MerkleListBuilder) Unset() int {
	for w, bits := range b.set {
		if i := w*64 + trailingOnes(bits); i < b.leaves.n && bits != ^uint64(0) {
			return i
		}
	}
	return -1
}

func trailingOnes(x uint64) int { return bits.TrailingZeros64(^x) }

// List returns the list of the leaves set; the builder must not be used
// afterwards.
func (b *MerkleListBuilder) List() *MerkleList { return listOf(b.leaves, b.arena(), nil) }

// ListReading returns the list of the leaves set, which keeps only its
// levels from diskLevel up and reads its leaves with read: the store
// must hold the leaves set. The builder must not be used afterwards.
func (b *MerkleListBuilder) ListReading(read LeafReader) *MerkleList {
	return listOf(b.leaves, b.arena(), read)
}

// Len returns the number of leaves: the highest set, plus one.
func (b *MerkleListBuilder) Len() int { return b.leaves.n }

// Leaf returns leaf i (i < Len()), before List or ListReading.
func (b *MerkleListBuilder) Leaf(i int) Hash {
	h := b.leaves.at(i)
	runtime.KeepAlive(b)
	return h
}

// arena returns the builder's chunks' owner, which its list takes over.
func (b *MerkleListBuilder) arena() *offHeap {
	if b.mem == nil {
		b.mem = newOffHeap()
	}
	return b.mem
}

// level returns level l whole, a copy.
func (m *MerkleList) level(l int) ([]Hash, error) {
	if m.stored(l) {
		return m.levels[l].slice(), nil
	}
	e := m.Edit() // reads each group of leaves once
	out := make([]Hash, width(m.Len(), l))
	for j := range out {
		out[j] = e.get(l, j)
	}
	return out, e.err
}

// Len returns the number of leaves.
func (m *MerkleList) Len() int { return m.n }

// Root returns the tree hash: SHA-256("") for the empty list. It reads
// nothing: a list that reads its leaves may be read while its store is
// ahead of it (a block written, not yet applied to the list).
func (m *MerkleList) Root() Hash {
	if m.n == 0 {
		return sha256.Sum256(nil)
	}
	return m.root
}

// Leaf returns leaf hash i.
func (m *MerkleList) Leaf(i int) (Hash, error) {
	e := m.Edit()
	h := e.get(0, i)
	runtime.KeepAlive(m) // its chunks are mapped while it is reachable
	return h, e.err
}

// Proof returns the inclusion proof of leaf i (RFC 9162 §2.1.3).
func (m *MerkleList) Proof(i int) (Proof, error) {
	n := m.Len()
	if i < 0 || i >= n {
		return Proof{}, fmt.Errorf("merkle proof: index %d out of %d leaves", i, n)
	}
	defer runtime.KeepAlive(m)
	e := m.Edit()
	p := Proof{Index: uint64(i), Total: uint64(n)}
	j := i
	for l := 0; width(n, l) > 1; l++ { // as MerkleTree.Proof
		switch {
		case j%2 == 1:
			p.Path = append(p.Path, e.get(l, j-1))
		case j+1 < width(n, l):
			p.Path = append(p.Path, e.get(l, j+1))
		}
		j /= 2
	}
	return p, e.err
}

// SubtreeRoots returns the roots of the aligned subtrees of 2^c leaves
// (the last one over what is left): the nodes at level c, whose
// MerkleRootOfNodes is the list's root. Nil for the empty list.
func (m *MerkleList) SubtreeRoots(c int) ([]Hash, error) {
	defer runtime.KeepAlive(m)
	switch {
	case m.Len() == 0:
		return nil, nil
	case c >= len(m.levels)-1:
		return []Hash{m.root}, nil
	}
	return m.level(c)
}

// MerkleRootOfNodes returns the tree hash above nodes that are the
// roots of consecutive aligned subtrees of one size (a level of the
// tree, as SubtreeRoots gives it): SHA-256("") for none.
func MerkleRootOfNodes(nodes []Hash) Hash {
	if len(nodes) == 0 {
		return sha256.Sum256(nil)
	}
	level := slices.Clone(nodes)
	for len(level) > 1 {
		level = foldLevel(level, level[:0])
	}
	return level[0]
}

// Edit starts an overlay of changes over m.
func (m *MerkleList) Edit() *MerkleEdit { return m.EditSized(0) }

// EditSized starts an overlay for about changes leaf changes, with room
// for the nodes they will change (a block's edit then never regrows its
// table: about k·(log n − log k + 2) nodes for k changes among n).
func (m *MerkleList) EditSized(changes int) *MerkleEdit {
	nodes := 0
	if changes > 0 {
		nodes = changes * (max(bits.Len(uint(m.Len()+changes))-bits.Len(uint(changes)), 0) + 2)
	}
	return &MerkleEdit{base: m, n: m.Len(), over: make(map[nodeKey]Hash, nodes)}
}

// Apply makes e's changes m's own. e must be an edit of m, made since m
// last changed.
func (m *MerkleList) Apply(e *MerkleEdit) {
	if e.base != m {
		panic("consensus: MerkleList.Apply of another list's edit")
	}
	defer runtime.KeepAlive(m)
	root := e.Root()
	if e.err != nil {
		panic("consensus: MerkleList.Apply of an edit that could not read its leaves: " + e.err.Error())
	}
	for l, size := 0, e.n; size > 0; l++ {
		if l == len(m.levels) {
			m.levels = append(m.levels, hashes{})
		}
		for m.stored(l) && m.levels[l].n < size {
			m.levels[l].add(Hash{}, m.arena())
		}
		if size == 1 {
			m.levels = m.levels[:l+1]
			break
		}
		size = (size + 1) / 2
	}
	for k, h := range e.over {
		if m.stored(k.level) {
			m.levels[k.level].set(k.index, h)
		}
	}
	m.n, m.root = e.n, root
	e.over = map[nodeKey]Hash{}
}

type nodeKey struct{ level, index int }

// MerkleEdit is a set of changes to a MerkleList. Changed leaves are
// remembered and the nodes above them hashed at once when the root is
// asked for (or the edit applied): k changes cost each changed node once,
// about k·(log n − log k) + k hashes, where hashing each leaf's path on its
// own would cost k·log n (a block of 5,000 new voters would hash 100,000
// nodes instead of 10,000).
type MerkleEdit struct {
	base  *MerkleList
	n     int
	over  map[nodeKey]Hash
	dirty []int // leaves changed since the nodes above were last hashed
	// groups are the base's leaves read, a group of groupLen at a time,
	// by first leaf, when the base reads its leaves; err the first read
	// that failed (the hashes are then wrong: Err says it)
	groups map[int][]Hash
	err    error
}

// Err returns why the edit could not read its base's leaves, if it
// could not: its root is then wrong.
func (e *MerkleEdit) Err() error { return e.err }

// leaf returns the base's leaf i, read from its store a group at a time.
func (e *MerkleEdit) leaf(i int) Hash {
	m := e.base
	if m.read == nil {
		return m.levels[0].at(i)
	}
	if i >= m.n {
		panic(fmt.Sprintf("consensus: MerkleEdit reads leaf %d of %d stored", i, m.n))
	}
	from := i &^ (groupLen - 1)
	g, ok := e.groups[from]
	if !ok {
		g = make([]Hash, min(groupLen, m.n-from))
		if err := m.read(from, g); err != nil && e.err == nil {
			e.err = fmt.Errorf("merkle list: leaves %d…%d: %w", from, from+len(g)-1, err)
		}
		if e.groups == nil {
			e.groups = map[int][]Hash{}
		}
		e.groups[from] = g
	}
	return g[i-from]
}

// Len returns the number of leaves with the edit's changes.
func (e *MerkleEdit) Len() int { return e.n }

// width returns the number of nodes at level l for the edit's leaves.
func width(n, l int) int {
	for range l {
		n = (n + 1) / 2
	}
	return n
}

func (e *MerkleEdit) get(l, j int) Hash {
	if h, ok := e.over[nodeKey{l, j}]; ok {
		return h
	}
	if l == 0 {
		return e.leaf(j)
	}
	if e.base.stored(l) {
		return e.base.levels[l].at(j)
	}
	// Not kept: from the level below, with the edit's changes (the
	// nodes rehash changed are in over; this one's subtree is the base's
	// or, for the last node of a level, on an appended leaf's path).
	if 2*j+1 < width(e.n, l-1) {
		a, b := e.get(l-1, 2*j), e.get(l-1, 2*j+1)
		return nodeHash(&a, &b)
	}
	return e.get(l-1, 2*j)
}

// Set changes leaf i (i < Len()).
func (e *MerkleEdit) Set(i int, leaf Hash) {
	if i < 0 || i >= e.n {
		panic(fmt.Sprintf("consensus: MerkleEdit.Set(%d) of %d leaves", i, e.n))
	}
	e.over[nodeKey{0, i}] = leaf
	e.dirty = append(e.dirty, i)
}

// Append adds a leaf at the end and returns its index.
func (e *MerkleEdit) Append(leaf Hash) int {
	i := e.n
	e.n++
	e.over[nodeKey{0, i}] = leaf
	e.dirty = append(e.dirty, i)
	return i
}

// rehash recomputes the nodes above the changed leaves, level by level,
// each once. Only the nodes on a changed leaf's path change; appending a
// leaf changes the pairing of the last node of each level only, which is
// on the new leaf's path.
func (e *MerkleEdit) rehash() {
	if len(e.dirty) == 0 {
		return
	}
	idx := e.dirty
	slices.Sort(idx)
	idx = slices.Compact(idx)
	w := e.n
	for l := 0; w > 1; l++ {
		parents := idx[:0] // j/2 is non-decreasing in j: written behind the read
		for _, j := range idx {
			p := j / 2
			if len(parents) > 0 && parents[len(parents)-1] == p {
				continue
			}
			left := 2 * p
			var h Hash
			if left+1 < w {
				a, b := e.get(l, left), e.get(l, left+1)
				h = nodeHash(&a, &b)
			} else {
				h = e.get(l, left)
			}
			e.over[nodeKey{l + 1, p}] = h
			parents = append(parents, p)
		}
		idx = parents
		w = (w + 1) / 2
	}
	e.dirty = e.dirty[:0]
}

// Root returns the tree hash with the edit's changes.
func (e *MerkleEdit) Root() Hash {
	if e.n == 0 {
		return sha256.Sum256(nil)
	}
	defer runtime.KeepAlive(e.base)
	e.rehash()
	l := 0
	for width(e.n, l) > 1 {
		l++
	}
	return e.get(l, 0)
}
