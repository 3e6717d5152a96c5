package consensus

import (
	"encoding/json"
	"fmt"

	"github.com/cocorico/node/consensus/canon"
)

// Header is what validators sign for (through its hash): the block's place
// in the chain and a commitment to its transactions and to the application
// state before them. docs/PROTOCOL.md §Header.
type Header struct {
	ChainID string `cbor:"1,keyasint" json:"chain_id"`
	Height  uint64 `cbor:"2,keyasint" json:"height"`
	// Time is the proposer's clock at proposal, in Unix milliseconds; it
	// grows strictly from block to block. Ballots open and close by it.
	Time int64 `cbor:"3,keyasint" json:"time"`
	// PrevHash is the hash of the block at Height-1; for block 1, the
	// genesis hash.
	PrevHash Hash `cbor:"4,keyasint" json:"prev_hash"`
	// TxRoot is the RFC 6962 Merkle root of the transactions.
	TxRoot  Hash   `cbor:"5,keyasint" json:"tx_root"`
	TxCount uint32 `cbor:"6,keyasint" json:"tx_count"`
	// AppHash commits to the application state (the results) after the
	// block at Height-1 was applied.
	AppHash Hash `cbor:"7,keyasint" json:"app_hash"`
	// Proposer is the validator index that proposed the block.
	Proposer uint16 `cbor:"8,keyasint" json:"proposer"`
}

// DomainHeader separates header hashes from every other hash.
const DomainHeader = "cocorico/v1/header"

// Hash returns the block hash: SHA-256("cocorico/v1/header" ‖ canonical bytes).
func (h *Header) Hash() Hash {
	return Sum([]byte(DomainHeader), canon.MustMarshal(h))
}

// Block is a header and the ordered transactions it commits to.
// Transactions are opaque to consensus.
type Block struct {
	Header Header   `cbor:"1,keyasint" json:"header"`
	Txs    [][]byte `cbor:"2,keyasint" json:"txs"`
}

// Hash returns the hash of the block's header.
func (b *Block) Hash() Hash { return b.Header.Hash() }

// CheckStructure verifies what a block says of itself against the chain's
// parameters: chain id, height at least 1, transaction count, sizes and
// Merkle root. It does not look at the transactions' meaning.
func (b *Block) CheckStructure(chainID string, p Params) error {
	h := &b.Header
	switch {
	case h.ChainID != chainID:
		return fmt.Errorf("%w: chain id %q, want %q", ErrBlockInvalid, h.ChainID, chainID)
	case h.Height == 0:
		return fmt.Errorf("%w: height 0", ErrBlockInvalid)
	case int(h.TxCount) != len(b.Txs):
		return fmt.Errorf("%w: header counts %d txs, block has %d", ErrBlockInvalid, h.TxCount, len(b.Txs))
	case len(b.Txs) > p.MaxBlockTxs:
		return fmt.Errorf("%w: %d txs, at most %d", ErrBlockInvalid, len(b.Txs), p.MaxBlockTxs)
	}
	total := 0
	for i, tx := range b.Txs {
		if len(tx) == 0 || len(tx) > p.MaxTxBytes {
			return fmt.Errorf("%w: tx %d has %d bytes, want 1 to %d", ErrBlockInvalid, i, len(tx), p.MaxTxBytes)
		}
		total += len(tx)
	}
	if total > p.MaxBlockBytes {
		return fmt.Errorf("%w: %d bytes of txs, at most %d", ErrBlockInvalid, total, p.MaxBlockBytes)
	}
	if root := MerkleRoot(b.Txs); root != h.TxRoot {
		return fmt.Errorf("%w: tx root %s, computed %s", ErrBlockInvalid, h.TxRoot.Short(), root.Short())
	}
	return nil
}

// MaxBlockEncoding bounds the encoded size of a block whatever its params:
// 64 MiB of transactions plus framing.
const MaxBlockEncoding = 65 << 20

// Encode returns the canonical bytes of b.
func (b *Block) Encode() []byte { return canon.MustMarshal(b) }

// DecodeBlock decodes canonical block bytes. It does not check the block
// against a chain: call CheckStructure for that. The transactions it
// returns may share data's bytes: data must not change after.
func DecodeBlock(data []byte) (*Block, error) {
	if b, ok := decodeBlockOfBytes(data); ok {
		return b, nil
	}
	var b Block
	if err := canon.Unmarshal(data, &b, MaxBlockEncoding); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBlockInvalid, err)
	}
	return &b, nil
}

// decodeBlockOfBytes decodes the shape a block has when its transactions
// are all byte strings (every block a node makes, stores or serves):
// {1: header, 2: [bytes, ...]}, every head in its shortest form, nothing
// after. The transactions are slices of data, not copies: a block sync
// answer's blocks are decoded and re-encoded once less, and copied once
// less. ok is false for anything else, canonical or not, which
// canon.Unmarshal then decides: ok true only for what it would accept as
// the same block (FuzzDecodeBlock holds the two to that).
func decodeBlockOfBytes(data []byte) (b *Block, ok bool) {
	if len(data) > MaxBlockEncoding || len(data) < 2 || data[0] != 0xa2 || data[1] != 0x01 {
		return nil, false
	}
	b = new(Block)
	rest, err := canon.UnmarshalFirst(data[2:], &b.Header, MaxHeaderEncoding)
	if err != nil || len(rest) == 0 || rest[0] != 0x02 {
		return nil, false
	}
	n, rest, ok := canon.ReadHead(rest[1:], canon.MajorArray)
	// Every transaction takes a byte at least: n above what is left is a
	// lie that allocates nothing here.
	if !ok || n > uint64(len(rest)) || n > canon.MaxArray {
		return nil, false
	}
	b.Txs = make([][]byte, n)
	for i := range b.Txs {
		var size uint64
		if size, rest, ok = canon.ReadHead(rest, canon.MajorBytes); !ok || size > uint64(len(rest)) {
			return nil, false
		}
		b.Txs[i], rest = rest[:size:size], rest[size:]
	}
	return b, len(rest) == 0
}

// AppendBlock appends to dst the start of the canonical encoding of a
// block whose header encodes as header and which has txs transactions:
// with AppendBlockTx for each of them, in order, dst then holds what
// Block.Encode gives. The ledger serves stored blocks so, without
// decoding them.
func AppendBlock(dst, header []byte, txs int) []byte {
	dst = append(append(dst, 0xa2, 0x01), header...)
	return canon.AppendHead(append(dst, 0x02), canon.MajorArray, uint64(txs))
}

// AppendBlockTx appends a transaction to a block AppendBlock started.
func AppendBlockTx(dst, tx []byte) []byte {
	return append(canon.AppendHead(dst, canon.MajorBytes, uint64(len(tx))), tx...)
}

// Encode returns the canonical bytes of h.
func (h *Header) Encode() []byte { return canon.MustMarshal(h) }

// MaxHeaderEncoding bounds a header's encoding.
const MaxHeaderEncoding = 1024

// DecodeHeader decodes canonical header bytes.
func DecodeHeader(data []byte) (*Header, error) {
	var h Header
	if err := canon.Unmarshal(data, &h, MaxHeaderEncoding); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBlockInvalid, err)
	}
	return &h, nil
}

var _ json.Marshaler = Block{}

// MarshalJSON writes b with its transactions as [] when it has none (a
// heartbeat block): a list has one JSON form, never null.
func (b Block) MarshalJSON() ([]byte, error) {
	type plain Block
	q := plain(b)
	q.Txs = nonNil(q.Txs)
	return json.Marshal(q)
}
