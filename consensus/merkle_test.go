package consensus

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cocorico/node/consensus/canon"
)

// referenceRoot is RFC 6962 §2.1's recursive definition, word for word:
// MTH(D[n]) = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n])), k the largest
// power of two smaller than n.
func referenceRoot(txs [][]byte) Hash {
	switch len(txs) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, txs[0]...))
	}
	k := 1
	for k*2 < len(txs) {
		k *= 2
	}
	l, r := referenceRoot(txs[:k]), referenceRoot(txs[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func testTxs(n int) [][]byte {
	txs := make([][]byte, n)
	for i := range txs {
		txs[i] = []byte(fmt.Sprintf("tx-%d", i))
	}
	return txs
}

func TestMerkleRootMatchesRFC6962RecursiveDefinition(t *testing.T) {
	for n := 0; n <= 70; n++ {
		txs := testTxs(n)
		if got, want := MerkleRoot(txs), referenceRoot(txs); got != want {
			t.Fatalf("n=%d: root %s, RFC 6962 gives %s", n, got, want)
		}
	}
}

func TestMerkleRootOfEmptyListIsHashOfEmptyString(t *testing.T) {
	if got := MerkleRoot(nil).String(); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty root %s", got)
	}
}

func TestEveryInclusionProofVerifiesForEveryTreeSize(t *testing.T) {
	for n := 1; n <= 70; n++ {
		txs := testTxs(n)
		root, proofs := MerkleProofs(txs)
		for i, p := range proofs {
			if err := p.Verify(LeafHash(txs[i]), root); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			single, err := MerkleProof(txs, i)
			if err != nil || fmt.Sprint(single) != fmt.Sprint(p) {
				t.Fatalf("n=%d i=%d: MerkleProof differs from MerkleProofs", n, i)
			}
		}
	}
}

func TestTamperedInclusionProofIsRejected(t *testing.T) {
	txs := testTxs(13)
	root, proofs := MerkleProofs(txs)
	p := proofs[6]
	cases := map[string]func() (Proof, Hash, Hash){
		"other leaf":       func() (Proof, Hash, Hash) { return p, LeafHash([]byte("forged")), root },
		"other index":      func() (Proof, Hash, Hash) { q := p; q.Index = 7; return q, LeafHash(txs[6]), root },
		"other tree shape": func() (Proof, Hash, Hash) { q := p; q.Total = 7; return q, LeafHash(txs[6]), root },
		"index past total": func() (Proof, Hash, Hash) { q := p; q.Index = 13; return q, LeafHash(txs[6]), root },
		"flipped path hash": func() (Proof, Hash, Hash) {
			q := p
			q.Path = append([]Hash(nil), p.Path...)
			q.Path[0][0] ^= 1
			return q, LeafHash(txs[6]), root
		},
		"short path": func() (Proof, Hash, Hash) { q := p; q.Path = p.Path[:len(p.Path)-1]; return q, LeafHash(txs[6]), root },
		"long path": func() (Proof, Hash, Hash) {
			q := p
			q.Path = append(append([]Hash(nil), p.Path...), Hash{})
			return q, LeafHash(txs[6]), root
		},
		"other root":      func() (Proof, Hash, Hash) { return p, LeafHash(txs[6]), Sum([]byte("x")) },
		"raw tx not leaf": func() (Proof, Hash, Hash) { return p, Sum(txs[6]), root },
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			q, leaf, r := mk()
			if err := q.Verify(leaf, r); !errors.Is(err, ErrProofInvalid) {
				t.Fatalf("got %v, want ErrProofInvalid", err)
			}
		})
	}
}

func TestMerkleProofIndexOutOfRangeIsAnError(t *testing.T) {
	if _, err := MerkleProof(testTxs(3), 3); err == nil {
		t.Fatal("proof of leaf 3 of 3 was made")
	}
}

func BenchmarkMerkleRoot10000(b *testing.B) {
	txs := make([][]byte, 10000)
	for i := range txs {
		txs[i] = make([]byte, 450) // the size of a cast
		txs[i][0], txs[i][1] = byte(i), byte(i>>8)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		MerkleRoot(txs)
	}
	b.ReportMetric(float64(b.N*len(txs))/b.Elapsed().Seconds(), "txs/s")
}

// TestNullAndEmptyListHaveOneForm: a one-leaf tree's path is written [],
// never null, and reads back; null is refused, and so is a heartbeat
// block's transaction list written null.
func TestNullAndEmptyListHaveOneForm(t *testing.T) {
	_, proofs := MerkleProofs([][]byte{[]byte("only")})
	data, err := json.Marshal(proofs[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"index":0,"total":1,"path":[]}` {
		t.Fatalf("one-leaf proof written %s", data)
	}
	var back Proof
	if err := canon.DecodeJSON(data, &back, 1000); err != nil || len(back.Path) != 0 {
		t.Fatalf("[] path read back as %v, %v", back.Path, err)
	}
	if err := canon.DecodeJSON([]byte(`{"index":0,"total":1,"path":null}`), &back, 1000); !errors.Is(err, canon.ErrMalformed) {
		t.Fatalf("null path: got %v, want ErrMalformed", err)
	}
	b := Block{Header: Header{ChainID: "c", Height: 1}}
	data, _ = json.Marshal(b)
	if !strings.Contains(string(data), `"txs":[]`) {
		t.Fatalf("empty block written %s", data)
	}
	var bb Block
	if err := canon.DecodeJSON(data, &bb, 1000); err != nil {
		t.Fatalf("empty block read back: %v", err)
	}
	if err := canon.DecodeJSON([]byte(strings.Replace(string(data), `"txs":[]`, `"txs":null`, 1)), &bb, 1000); !errors.Is(err, canon.ErrMalformed) {
		t.Fatalf("null txs: got %v, want ErrMalformed", err)
	}
}
