package consensus

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
)

// The Merkle tree of a block's transactions is the one of RFC 6962 §2.1
// (also RFC 9162 §2.1.1): leaf = SHA-256(0x00 ‖ tx), node =
// SHA-256(0x01 ‖ left ‖ right), and the root of an empty list is SHA-256("").
// docs/PROTOCOL.md §Merkle.

// Proof is an RFC 6962 audit path: the inclusion proof of the leaf at Index
// in a tree of Total leaves. Path lists sibling hashes from the leaf up.
type Proof struct {
	Index uint64 `cbor:"1,keyasint" json:"index"`
	Total uint64 `cbor:"2,keyasint" json:"total"`
	Path  []Hash `cbor:"3,keyasint" json:"path"`
}

// MaxProofLength bounds an audit path: a tree of 2^64 leaves needs 64.
const MaxProofLength = 64

// ErrProofInvalid is returned when an inclusion proof does not lead to the root.
var ErrProofInvalid = errors.New("merkle proof invalid")

// LeafHash returns SHA-256(0x00 ‖ tx).
func LeafHash(tx []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(tx)
	var out Hash
	h.Sum(out[:0])
	return out
}

func nodeHash(left, right *Hash) Hash {
	var buf [1 + 2*HashSize]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[1+HashSize:], right[:])
	return sha256.Sum256(buf[:])
}

// MerkleRoot returns the RFC 6962 tree hash of txs.
func MerkleRoot(txs [][]byte) Hash {
	if len(txs) == 0 {
		return sha256.Sum256(nil)
	}
	level := make([]Hash, len(txs))
	for i, tx := range txs {
		level[i] = LeafHash(tx)
	}
	for len(level) > 1 {
		level = foldLevel(level, level[:0])
	}
	return level[0]
}

// foldLevel hashes neighbours pairwise into next (which may alias level).
// Pairing bottom-up and promoting an unpaired last node unchanged gives
// exactly RFC 6962's split-at-the-largest-power-of-two tree.
func foldLevel(level, next []Hash) []Hash {
	for i := 0; i < len(level); i += 2 {
		if i+1 < len(level) {
			next = append(next, nodeHash(&level[i], &level[i+1]))
		} else {
			next = append(next, level[i])
		}
	}
	return next
}

// MerkleTree keeps every level of a tree so that any leaf's proof costs
// O(log n) once the tree is built (O(n)).
type MerkleTree struct {
	n      int      // leaves
	levels [][]Hash // levels[0] are the leaf hashes, the last level the root
}

// NewMerkleTree builds the tree of txs.
func NewMerkleTree(txs [][]byte) *MerkleTree {
	if len(txs) == 0 {
		return &MerkleTree{levels: [][]Hash{{sha256.Sum256(nil)}}}
	}
	level := make([]Hash, len(txs))
	for i, tx := range txs {
		level[i] = LeafHash(tx)
	}
	t := &MerkleTree{n: len(txs), levels: [][]Hash{level}}
	for len(level) > 1 {
		level = foldLevel(level, make([]Hash, 0, (len(level)+1)/2))
		t.levels = append(t.levels, level)
	}
	return t
}

// Root returns the tree hash.
func (t *MerkleTree) Root() Hash { return t.levels[len(t.levels)-1][0] }

// Leaves returns the number of leaves (0 for the empty tree).
func (t *MerkleTree) Leaves() int { return t.n }

// Proof returns the audit path of leaf index.
func (t *MerkleTree) Proof(index int) (Proof, error) {
	n := t.Leaves()
	if index < 0 || index >= n {
		return Proof{}, fmt.Errorf("merkle proof: index %d out of %d leaves", index, n)
	}
	p := Proof{Index: uint64(index), Total: uint64(n)}
	j := index
	for _, level := range t.levels[:len(t.levels)-1] {
		switch {
		case j%2 == 1:
			p.Path = append(p.Path, level[j-1])
		case j+1 < len(level):
			p.Path = append(p.Path, level[j+1])
		}
		j /= 2
	}
	return p, nil
}

// MerkleProofs returns the root of txs and the inclusion proof of every leaf.
func MerkleProofs(txs [][]byte) (Hash, []Proof) {
	t := NewMerkleTree(txs)
	proofs := make([]Proof, len(txs))
	for i := range txs {
		proofs[i], _ = t.Proof(i)
	}
	return t.Root(), proofs
}

// MerkleProof returns the inclusion proof of txs[index].
func MerkleProof(txs [][]byte, index int) (Proof, error) {
	return NewMerkleTree(txs).Proof(index)
}

// Verify checks that leaf (the hash LeafHash returns) sits at p.Index in a
// tree of p.Total leaves whose root is root. It follows RFC 9162 §2.1.3.2.
func (p Proof) Verify(leaf, root Hash) error {
	r, err := p.Root(leaf)
	if err != nil {
		return err
	}
	if r != root {
		return fmt.Errorf("%w: leads to %s, not the root %s", ErrProofInvalid, r.Short(), root.Short())
	}
	return nil
}

// Root returns the root that leaf at p.Index leads to along p's path, or
// an error when the path does not fit a tree of p.Total leaves.
func (p Proof) Root(leaf Hash) (Hash, error) {
	if p.Index >= p.Total {
		return Hash{}, fmt.Errorf("%w: index %d not below total %d", ErrProofInvalid, p.Index, p.Total)
	}
	if len(p.Path) > MaxProofLength {
		return Hash{}, fmt.Errorf("%w: path of %d hashes", ErrProofInvalid, len(p.Path))
	}
	fn, sn := p.Index, p.Total-1
	r := leaf
	for _, c := range p.Path {
		if sn == 0 {
			return Hash{}, fmt.Errorf("%w: path longer than the tree", ErrProofInvalid)
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(&c, &r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = nodeHash(&r, &c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return Hash{}, fmt.Errorf("%w: path shorter than the tree", ErrProofInvalid)
	}
	return r, nil
}

var _ json.Marshaler = Proof{}

// MarshalJSON writes p with its path as [] when it is empty (a one-leaf
// tree): a list has one JSON form, never null (docs/PROTOCOL.md §1).
func (p Proof) MarshalJSON() ([]byte, error) {
	type plain Proof // the same fields without this method
	q := plain(p)
	q.Path = nonNil(q.Path)
	return json.Marshal(q)
}

// nonNil returns s, or an empty list when s is nil, so that encoding/json
// writes [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
