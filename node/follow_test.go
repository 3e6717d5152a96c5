package node

import (
	"slices"
	"testing"
)

// The replay's first block-sync request asks two blocks, so that its
// verify stage has work after one short round trip, and each next request
// twice as many, up to a full answer of 64 (a peer reads, encodes and
// sends an answer whole before its first byte arrives: a first answer of
// 64 full blocks kept the syncing node idle for most of a second), while
// the blocks are empty.
func TestTheReplayAsksTwoBlocksFirstThenTwiceAsManyUpToAFullAnswer(t *testing.T) {
	var got []int
	for n, i := firstAnswerBlocks, 0; i < 8; n, i = nextAnswerBlocks(n, 0, 0), i+1 {
		got = append(got, n)
	}
	if want := []int{2, 4, 8, 16, 32, 64, 64, 64}; !slices.Equal(got, want) {
		t.Fatalf("blocks asked by successive requests %v, want %v", got, want)
	}
}

// Where a chain's empty blocks end, the answer after the first full
// blocks asks a few of them, not twice the count of the (mostly empty)
// answer before: it weighs about twice that answer, each block counted
// as heavy as its last one. From there the answers double, in blocks and
// bytes alike, up to a full answer.
func TestTheReplayAsksAFewBlocksAfterTheFirstFullOnesThenDoubles(t *testing.T) {
	const full = 1 << 20 // a full block's transactions
	// 16 blocks asked: 13 empty, then 3 full ones.
	n := nextAnswerBlocks(16, 3*full, full)
	if n != 6 {
		t.Fatalf("after 3 full blocks of 16, %d asked, want 6 (twice their bytes)", n)
	}
	var got []int
	for range 6 {
		got = append(got, n)
		n = nextAnswerBlocks(n, n*full, full)
	}
	if want := []int{6, 12, 24, 48, 64, 64}; !slices.Equal(got, want) {
		t.Fatalf("blocks asked by successive requests of full blocks %v, want %v", got, want)
	}
	// One heavy block after light ones: at least one block is asked, and
	// the count grows again from there.
	if n := nextAnswerBlocks(8, full+7, full); n != 2 {
		t.Fatalf("after a heavy last block, %d asked, want 2", n)
	}
	if n := nextAnswerBlocks(4, 10, 1<<30); n != 1 {
		t.Fatalf("after a last block heavier than twice the answer, %d asked, want 1", n)
	}
}
