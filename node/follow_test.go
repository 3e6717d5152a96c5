package node

import (
	"slices"
	"testing"
)

// The replay's first block-sync request asks two blocks, so that its
// verify stage has work after one short round trip, and each next request
// twice as many, up to a full answer of 64 (a peer reads, encodes and
// sends an answer whole before its first byte arrives: a first answer of
// 64 full blocks kept the syncing node idle for most of a second).
func TestTheReplayAsksTwoBlocksFirstThenTwiceAsManyUpToAFullAnswer(t *testing.T) {
	var got []int
	for n, i := firstAnswerBlocks, 0; i < 8; n, i = nextAnswerBlocks(n), i+1 {
		got = append(got, n)
	}
	if want := []int{2, 4, 8, 16, 32, 64, 64, 64}; !slices.Equal(got, want) {
		t.Fatalf("blocks asked by successive requests %v, want %v", got, want)
	}
}
