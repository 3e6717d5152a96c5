package node

import (
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
