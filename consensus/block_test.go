package consensus

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/cocorico/node/consensus/canon"
)

func testBlock(g *Genesis, n int) *Block {
	txs := testTxs(n)
	return &Block{
		Header: Header{ChainID: g.ChainID, Height: 1, Time: 1_700_000_001_000, PrevHash: g.Hash(),
			TxRoot: MerkleRoot(txs), TxCount: uint32(n)},
		Txs: txs,
	}
}

func TestWellFormedBlockPassesStructureCheckAndRoundTrips(t *testing.T) {
	g, _ := testChain(4)
	b := testBlock(g, 5)
	if err := b.CheckStructure(g.ChainID, g.Params); err != nil {
		t.Fatal(err)
	}
	d, err := DecodeBlock(b.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if d.Hash() != b.Hash() || len(d.Txs) != 5 {
		t.Fatal("block changed through its encoding")
	}
}

func TestMalformedBlocksFailStructureCheck(t *testing.T) {
	g, _ := testChain(4)
	cases := map[string]func(*Block){
		"other chain":    func(b *Block) { b.Header.ChainID = "other" },
		"height zero":    func(b *Block) { b.Header.Height = 0 },
		"count mismatch": func(b *Block) { b.Header.TxCount++ },
		"root mismatch":  func(b *Block) { b.Txs[0] = []byte("swapped") },
		"empty tx":       func(b *Block) { b.Txs[1] = nil; b.Header.TxRoot = MerkleRoot(b.Txs) },
		"oversize tx":    func(b *Block) { b.Txs[1] = make([]byte, g.Params.MaxTxBytes+1); b.Header.TxRoot = MerkleRoot(b.Txs) },
		"reordered txs":  func(b *Block) { b.Txs[0], b.Txs[1] = b.Txs[1], b.Txs[0] },
		"too many txs": func(b *Block) {
			b.Txs = testTxs(g.Params.MaxBlockTxs + 1)
			b.Header.TxCount = uint32(len(b.Txs))
			b.Header.TxRoot = MerkleRoot(b.Txs)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			b := testBlock(g, 5)
			mutate(b)
			if err := b.CheckStructure(g.ChainID, g.Params); !errors.Is(err, ErrBlockInvalid) {
				t.Fatalf("got %v, want ErrBlockInvalid", err)
			}
		})
	}
}

func TestBlockHashCoversEveryHeaderField(t *testing.T) {
	g, _ := testChain(4)
	base := testBlock(g, 3).Hash()
	mutations := []func(*Header){
		func(h *Header) { h.ChainID = "x" }, func(h *Header) { h.Height++ }, func(h *Header) { h.Time++ },
		func(h *Header) { h.PrevHash[0] ^= 1 }, func(h *Header) { h.TxRoot[0] ^= 1 }, func(h *Header) { h.TxCount++ },
		func(h *Header) { h.AppHash[0] ^= 1 }, func(h *Header) { h.Proposer++ },
	}
	for i, m := range mutations {
		b := testBlock(g, 3)
		m(&b.Header)
		if b.Hash() == base {
			t.Errorf("mutation %d left the hash unchanged", i)
		}
	}
}

func TestBlockDecodingRejectsTrailingBytes(t *testing.T) {
	g, _ := testChain(1)
	data := append(testBlock(g, 2).Encode(), 0)
	if _, err := DecodeBlock(data); !errors.Is(err, ErrBlockInvalid) {
		t.Fatalf("got %v, want ErrBlockInvalid", err)
	}
}

// blocksOfShapes are blocks whose transactions' sizes and counts cross
// every length a CBOR head writes in a different form (23/24, 255/256,
// 65535/65536 bytes; 23/24 and 256 transactions), none at all included.
func blocksOfShapes(g *Genesis) []*Block {
	var out []*Block
	for _, sizes := range [][]int{{}, {0}, {1, 23, 24, 255, 256}, {65535, 65536}, repeat(23, 7), repeat(24, 7), repeat(256, 1)} {
		txs := make([][]byte, len(sizes))
		for i, n := range sizes {
			txs[i] = bytes.Repeat([]byte{byte(i + 1)}, n)
		}
		b := testBlock(g, 0)
		b.Txs, b.Header.TxCount, b.Header.TxRoot = txs, uint32(len(txs)), MerkleRoot(txs)
		out = append(out, b)
	}
	return out
}

func repeat(count, size int) []int {
	out := make([]int, count)
	for i := range out {
		out[i] = size
	}
	return out
}

// blocksOfOddShapes are encodings the byte-string path of DecodeBlock
// leaves to the canonical decoder: null transactions, a null one, a head
// longer than it needs, a count above what follows, a byte after.
func blocksOfOddShapes(g *Genesis) [][]byte {
	hdr := testBlock(g, 0).Header.Encode()
	start := append(append([]byte{0xa2, 0x01}, hdr...), 0x02)
	cat := func(parts ...[]byte) []byte { return bytes.Join(append([][]byte{start}, parts...), nil) }
	return [][]byte{
		cat([]byte{0xf6}),                   // Txs null
		cat([]byte{0x81, 0xf6}),             // one null transaction
		cat([]byte{0x98, 0x01, 0x41, 0x07}), // a count of 1 in two bytes
		cat([]byte{0x81, 0x58, 0x01, 0x07}), // a 1-byte string's length in two bytes
		cat([]byte{0x82, 0x41, 0x07}),       // two announced, one there
		cat([]byte{0x9a, 0xff, 0xff, 0xff, 0xff}),
		cat([]byte{0x81, 0x41, 0x07, 0x00}), // a byte after
		cat([]byte{0x81, 0x61, 0x07}),       // a text string, not bytes
		cat([]byte{0x9f, 0x41, 0x07, 0xff}), // indefinite length
	}
}

// AppendBlock and AppendBlockTx write what the canonical encoder writes,
// at every length of a head.
func TestAppendBlockWritesWhatTheCanonicalEncoderWrites(t *testing.T) {
	g, _ := testChain(4)
	for _, b := range blocksOfShapes(g) {
		got := AppendBlock(nil, b.Header.Encode(), len(b.Txs))
		for _, tx := range b.Txs {
			got = AppendBlockTx(got, tx)
		}
		want := canon.MustMarshal(b)
		if !bytes.Equal(got, want) {
			t.Fatalf("a block of %d txs: appended %d bytes, the canonical encoder %d, not the same", len(b.Txs), len(got), len(want))
		}
	}
}

// DecodeBlock takes a block of byte strings without the canonical
// decoder's decode and re-encode; what it gives must be what that
// decoder gives, and what the byte-string path leaves must still be
// decided by it.
func TestDecodeBlockGivesWhatTheCanonicalDecoderGivesWhateverTheShape(t *testing.T) {
	g, _ := testChain(4)
	for _, b := range blocksOfShapes(g) {
		data := b.Encode()
		fast, ok := decodeBlockOfBytes(data)
		if !ok {
			t.Fatalf("a block of %d txs was left to the canonical decoder", len(b.Txs))
		}
		var slow Block
		if err := canon.Unmarshal(data, &slow, MaxBlockEncoding); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*fast, slow) {
			t.Fatalf("a block of %d txs: %+v, the canonical decoder %+v", len(b.Txs), fast, slow)
		}
	}
	for i, data := range blocksOfOddShapes(g) {
		if _, ok := decodeBlockOfBytes(data); ok {
			t.Fatalf("odd shape %d (%x) taken by the byte-string path", i, data)
		}
		var slow Block
		slowErr := canon.Unmarshal(data, &slow, MaxBlockEncoding)
		b, err := DecodeBlock(data)
		if (err == nil) != (slowErr == nil) || err == nil && !reflect.DeepEqual(*b, slow) {
			t.Fatalf("odd shape %d (%x): DecodeBlock %v, the canonical decoder %v", i, data, err, slowErr)
		}
	}
}

// BenchmarkBlockOf4000Casts encodes and decodes a block of 4,000
// transactions of 430 bytes (a cast's size): with the canonical encoder
// and decoder (reflection; the decoder encodes again to compare), and as
// a block sync server writes a stored block (AppendBlock) and its client
// decodes it (DecodeBlock's byte-string path). An op is one block.
func BenchmarkBlockOf4000Casts(b *testing.B) {
	g, _ := testChain(4)
	blk := testBlock(g, 0)
	blk.Txs = make([][]byte, 4000)
	for i := range blk.Txs {
		blk.Txs[i] = bytes.Repeat([]byte{byte(i)}, 430)
	}
	data := blk.Encode()
	b.Run("encode/canonical encoder", func(b *testing.B) {
		for b.Loop() {
			canon.MustMarshal(blk)
		}
	})
	b.Run("encode/AppendBlock", func(b *testing.B) {
		hdr := blk.Header.Encode()
		for b.Loop() {
			out := AppendBlock(make([]byte, 0, len(data)), hdr, len(blk.Txs))
			for _, tx := range blk.Txs {
				out = AppendBlockTx(out, tx)
			}
		}
	})
	b.Run("decode/canonical decoder", func(b *testing.B) {
		for b.Loop() {
			var d Block
			if err := canon.Unmarshal(data, &d, MaxBlockEncoding); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/DecodeBlock", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeBlock(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
