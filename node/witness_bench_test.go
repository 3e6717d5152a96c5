package node

import (
	"crypto/ed25519"
	"encoding/binary"
	"testing"

	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

// The two costs attestations add to a volunteer (docs/OPERATIONS.md
// §Attestations): signing and encoding its own (at most one per
// attestEveryMs of block time), and checking and keeping each other
// volunteer's (decode, signature, book), as the topic validator and the
// handler do. Compare with BenchmarkCastVerifyBatch's ns/cast × 3,000.

func BenchmarkAttestationSign(b *testing.B) {
	g, _ := ballottest.Validators("bench-chain", 4, 1)
	chain, key := g.Chain(), keyN(1000)
	book := newWitnessBook(g.ValidatorSet())
	b.ReportAllocs()
	h := uint64(0)
	for b.Loop() {
		h++
		a := consensus.NewAttestation(chain, h, consensus.Hash{1}, consensus.Hash{2}, key)
		book.own(a)
		_ = (&consensus.Witness{Attestation: a}).Encode()
	}
}

func BenchmarkAttestationCheckAndKeep(b *testing.B) {
	g, _ := ballottest.Validators("bench-chain", 4, 1)
	chain := g.Chain()
	const n = 4096
	msgs := make([][]byte, n)
	for i := range msgs {
		a := consensus.NewAttestation(chain, uint64(i/witnessesPerHeight)+1, consensus.Hash{1}, consensus.Hash{2}, keyN(i%witnessesPerHeight))
		msgs[i] = (&consensus.Witness{Attestation: a}).Encode()
	}
	book := newWitnessBook(g.ValidatorSet())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w, err := consensus.DecodeWitness(msgs[i%n], chain)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := book.addAttestation(w.Attestation); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAttestationCountOfAFullBook is what every status and results
// request asks of the witness book, unthrottled, under its lock: how many
// nodes attested a height or later, in a book full of Sybil attestations
// (witnessHeights heights × witnessesPerHeight keys, each key attesting
// 16 heights), for the oldest height (the most to count) and the newest.
func BenchmarkAttestationCountOfAFullBook(b *testing.B) {
	g, _ := ballottest.Validators("count-bench-chain", 4, 10)
	w := newWitnessBook(g.ValidatorSet())
	for h := uint64(1); h <= witnessHeights; h++ {
		for k := range witnessesPerHeight {
			node := make(ed25519.PublicKey, ed25519.PublicKeySize)
			binary.BigEndian.PutUint64(node, (h-1)/16*witnessesPerHeight+uint64(k))
			w.addAttestation(&consensus.Attestation{Height: h, Node: node})
		}
	}
	for _, at := range []struct {
		name string
		h    uint64
	}{{"oldest", 1}, {"newest", witnessHeights}} {
		b.Run(at.name, func(b *testing.B) {
			for b.Loop() {
				w.count(at.h)
			}
		})
	}
}
