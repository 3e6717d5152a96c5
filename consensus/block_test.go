package consensus

import (
	"errors"
	"testing"
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
