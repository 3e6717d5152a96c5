package consensus

import (
	"bytes"
	"testing"
)

// FuzzDecodeBlock: no input panics the block decoder or the structure
// check, and whatever decodes is canonical.
func FuzzDecodeBlock(f *testing.F) {
	g, _ := testChain(4)
	f.Add(testBlock(g, 0).Encode())
	f.Add(testBlock(g, 3).Encode())
	f.Add([]byte{0xa2, 0x01, 0xa0, 0x02, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBlock(data)
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
