package app

import (
	"context"
	"testing"
)

// A block proposed from an empty mempool writes its transactions as an
// empty array (0x80), not CBOR null (0xf6): null is no value of the
// protocol (§2), and a decoder written from the docs refuses it. Every
// heartbeat block of an idle chain is such a block.
func TestAnEmptyProposedBlockWritesAnEmptyArrayNotNull(t *testing.T) {
	f := newAppFixture(t, "")
	b, err := f.app.ProposeBlock(context.Background(), 1, 0, f.now)
	if err != nil {
		t.Fatal(err)
	}
	enc := b.Encode()
	if last := enc[len(enc)-1]; last != 0x80 {
		t.Fatalf("an empty block ends in %#x, want 0x80 (an empty array for key 2)", last)
	}
}
