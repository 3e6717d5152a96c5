package consensus

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/cocorico/node/consensus/canon"
)

// FuzzDecodeBlock: no input panics the block decoder or the structure
// check, whatever decodes is canonical, and the decoder's path for blocks
// of byte strings accepts only what the canonical decoder accepts, as the
// same block.
func FuzzDecodeBlock(f *testing.F) {
	g, _ := testChain(4)
	f.Add(testBlock(g, 0).Encode())
	f.Add(testBlock(g, 3).Encode())
	f.Add([]byte{0xa2, 0x01, 0xa0, 0x02, 0x80})
	for _, b := range blocksOfOddShapes(g) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeBlockOfBytes(data)
		var slow Block
		slowErr := canon.Unmarshal(data, &slow, MaxBlockEncoding)
		if ok && (slowErr != nil || !reflect.DeepEqual(*fast, slow)) {
			t.Fatalf("the byte-string path decoded %x as %+v; the canonical decoder: %+v, %v", data, fast, slow, slowErr)
		}
		b, err := DecodeBlock(data)
		if (err == nil) != (slowErr == nil) {
			t.Fatalf("DecodeBlock says %v, the canonical decoder %v", err, slowErr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(b.Encode(), data) {
			t.Fatal("decoded a non-canonical block")
		}
		_ = b.CheckStructure(g.ChainID, g.Params)
	})
}

// FuzzDecodeCommit: no input panics the commit decoder or its verification.
func FuzzDecodeCommit(f *testing.F) {
	g, keys := testChain(4)
	block := Sum([]byte("b"))
	c, _ := NewCommit([]*Vote{precommit(g, keys, 0, 3, 0, block), precommit(g, keys, 1, 3, 0, block), precommit(g, keys, 2, 3, 0, block)})
	f.Add(c.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommit(data)
		if err != nil {
			return
		}
		if c.Verify(g.Chain(), g.ValidatorSet(), 3, block) == nil && len(c.Signatures) < 3 {
			t.Fatal("a commit without quorum verified")
		}
	})
}
