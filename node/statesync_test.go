package node

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// wholeManifest is a manifest whose chunk roots hash to its app hash: one
// ballot, one record, in chunks of 2^4 leaves.
func wholeManifest(height uint64, seed byte) *ballot.Manifest {
	m := &ballot.Manifest{Height: height, BlockHash: consensus.Hash{seed}, ChunkBits: 4, Ballots: 1, Records: 1,
		ResultsRoots: []consensus.Hash{{seed, 1}}, RecordsRoots: []consensus.Hash{{seed, 2}}}
	m.AppHash = ballot.AppHashOf(consensus.MerkleRootOfNodes(m.ResultsRoots), consensus.MerkleRootOfNodes(m.RecordsRoots))
	return m
}

// A peer that offers one manifest that is not whole is a liar: struck, none
// of its offers taken (not even its whole ones), and not counted among the
// peers that answered, so that a liar answering alone cannot make the node
// give up on snapshots ("the peers hold none") and replay from genesis.
// Honest offers are grouped by their bytes, highest first, then by how many
// peers offer them.
func TestALiarsManifestsAreAllDroppedAndItsAnswerDoesNotCount(t *testing.T) {
	high, low := wholeManifest(200, 1), wholeManifest(100, 2)
	notWhole := wholeManifest(300, 3)
	notWhole.AppHash[0] ^= 1
	honest, other, liar, empty := peer.ID("honest"), peer.ID("other"), peer.ID("liar"), peer.ID("empty")

	offers, answered, liars := judgeOffers([]peerManifests{
		{honest, [][]byte{high.Encode(), low.Encode()}},
		{liar, [][]byte{high.Encode(), notWhole.Encode(), low.Encode()}},
		{other, [][]byte{low.Encode()}},
		{empty, nil},
	})
	if len(liars) != 1 || liars[liar] == nil {
		t.Fatalf("liars %v, want the one that offered a manifest that is not whole", liars)
	}
	if answered != 3 {
		t.Fatalf("%d peers answered honestly, want 3 (the liar not counted)", answered)
	}
	if len(offers) != 2 || offers[0].m.Height != 200 || offers[1].m.Height != 100 {
		t.Fatalf("%d offers, want block 200's then block 100's", len(offers))
	}
	if got := offers[0].peers; len(got) != 1 || got[0] != honest {
		t.Fatalf("block 200's snapshot offered by %v, want the honest peer only (not the liar)", got)
	}
	if got := offers[1].peers; len(got) != 2 || got[0] == liar || got[1] == liar {
		t.Fatalf("block 100's snapshot offered by %v, want the two honest peers", got)
	}

	// The liar alone: no honest answer, so the node keeps waiting
	// (answered 0) instead of replaying from genesis at once.
	if offers, answered, liars := judgeOffers([]peerManifests{{liar, [][]byte{notWhole.Encode()}}}); len(offers) != 0 || answered != 0 || liars[liar] == nil {
		t.Fatalf("a liar alone: %d offers, %d answered, liars %v; want none, 0, the liar", len(offers), answered, liars)
	}
}
