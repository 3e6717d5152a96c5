package p2p

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"reflect"
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

// readBlockFrame splits the frames servers write without the canonical
// decoder, and must read every frame as that decoder does: the same
// block and commit, and the same refusals, whatever the frame's shape.
func TestReadBlockFrameReadsEveryFrameAsTheCanonicalDecoderDoes(t *testing.T) {
	frame := func(body []byte) *bufio.Reader {
		return bufio.NewReader(bytes.NewReader(append(binary.AppendUvarint(nil, uint64(len(body))), body...)))
	}
	var bodies [][]byte
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536} {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		writeBlockFrame(w, SyncBlock{Block: bytes.Repeat([]byte{7}, n), Commit: bytes.Repeat([]byte{9}, n/3)})
		w.Flush()
		size, prefix := binary.Uvarint(buf.Bytes())
		body := buf.Bytes()[prefix:]
		if prefix <= 0 || size != uint64(len(body)) {
			t.Fatalf("a %d-byte block's frame says %d bytes, has %d after its length", n, size, len(body))
		}
		if _, ok := syncBlockOfBytes(body); !ok {
			t.Fatalf("a server's frame of a %d-byte block goes to the canonical decoder", n)
		}
		bodies = append(bodies, body)
	}
	odd := [][]byte{
		{0xa2, 0x01, 0xf6, 0x02, 0x41, 0x09},             // block null
		{0xa2, 0x01, 0x58, 0x01, 0x07, 0x02, 0x41, 0x09}, // a length in two bytes
		{0xa2, 0x01, 0x41, 0x07, 0x02, 0x41, 0x09, 0x00}, // a byte after
		{0xa2, 0x02, 0x41, 0x09, 0x01, 0x41, 0x07},       // keys out of order
		{0xa2, 0x01, 0x45, 0x07, 0x02, 0x41, 0x09},       // a block longer than the frame
		{0xa2, 0x01, 0x41, 0x07, 0x02, 0x42, 0x09},       // a commit longer than the frame
		{0xa1, 0x01, 0x41, 0x07},                         // the commit missing
		{0xa2, 0x01, 0x41, 0x07, 0x02, 0x61, 0x09},       // a text string
	}
	for _, body := range odd {
		if _, ok := syncBlockOfBytes(body); ok {
			t.Fatalf("odd frame % x split without the canonical decoder", body)
		}
	}
	for _, body := range append(bodies, odd...) {
		got, err := readBlockFrame(frame(body), maxSyncResponse)
		var want SyncBlock
		wantErr := readFrame(frame(body), &want, maxSyncResponse)
		if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("frame % x: read as %d+%d bytes, %v; the canonical decoder: %d+%d bytes, %v",
				body[:min(len(body), 12)], len(got.Block), len(got.Commit), err, len(want.Block), len(want.Commit), wantErr)
		}
	}
}
