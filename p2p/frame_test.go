package p2p

import (
	"bufio"
	"bytes"
	"testing"
)

// A block's frame written without a copy of the block is byte for byte
// the frame of its canonical encoding, at every length of the CBOR head.
func TestWriteBlockFrameWritesTheCanonicalFrameAtEveryHeadLength(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536, 1 << 20} {
		b := SyncBlock{Block: bytes.Repeat([]byte{7}, n), Commit: bytes.Repeat([]byte{9}, n/3)}
		var want, got bytes.Buffer
		ww, gw := bufio.NewWriter(&want), bufio.NewWriter(&got)
		if err := writeFrame(ww, b); err != nil {
			t.Fatal(err)
		}
		if err := writeBlockFrame(gw, b); err != nil {
			t.Fatal(err)
		}
		ww.Flush()
		gw.Flush()
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("block of %d bytes: the frame differs from the canonical one (%d vs %d bytes; heads % x vs % x)", n, got.Len(), want.Len(),
				got.Bytes()[:min(got.Len(), 16)], want.Bytes()[:min(want.Len(), 16)])
		}
	}
}
