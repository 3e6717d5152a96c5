package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cocorico/node/consensus"
)

// The ledger's read side: blocks, their commits and transactions by
// height, a transaction by id, and the state's records.

// Header returns the header at height. A height in the back-fill gap
// answers ErrNotBackfilled (which is also ErrNotFound).
func (l *Ledger) Header(height uint64) (*consensus.Header, error) {
	return atHeight(l, "header", prefixHeader, height, consensus.DecodeHeader)
}

// atHeight reads and decodes the record of a final block stored under
// prefix ‖ height (its header or its commit): ErrNotBackfilled in the
// back-fill gap, ErrNotFound above the height, ErrCorrupt if it does not
// decode.
func atHeight[T any](l *Ledger, what string, prefix []byte, height uint64, decode func([]byte) (T, error)) (T, error) {
	var none T
	if l.inGap(height) {
		return none, fmt.Errorf("%s %d: %w", what, height, ErrNotBackfilled)
	}
	v, found, err := l.get(cat(prefix, be64(height)))
	if err != nil {
		return none, err
	}
	if !found || height > l.Height() {
		return none, fmt.Errorf("%s %d: %w", what, height, ErrNotFound)
	}
	x, err := decode(v)
	if err != nil {
		return none, fmt.Errorf("%w: %s %d: %v", ErrCorrupt, what, height, err)
	}
	return x, nil
}

// Block returns the block at height; ErrNotBackfilled in the back-fill gap.
func (l *Ledger) Block(height uint64) (*consensus.Block, error) {
	var b *consensus.Block
	err := l.blockTxs(height, func(h *consensus.Header) {
		b = &consensus.Block{Header: *h, Txs: make([][]byte, 0, h.TxCount)}
	}, func(tx []byte) { b.Txs = append(b.Txs, bytes.Clone(tx)) })
	if err != nil {
		return nil, err
	}
	return b, nil
}

// BlockBytes returns the canonical encoding of the block at height (what
// Block(height).Encode() gives), written straight from the stored header
// and transactions: block sync serves it so, with no transaction copied
// apart, decoded or re-encoded. ErrNotBackfilled in the back-fill gap.
func (l *Ledger) BlockBytes(height uint64) ([]byte, error) {
	var out []byte
	err := l.blockTxs(height, func(h *consensus.Header) {
		hdr := h.Encode()
		// The transactions' sizes are known only as they are read: room
		// for casts of a usual size, grown if they are bigger.
		out = consensus.AppendBlock(make([]byte, 0, len(hdr)+16+int(h.TxCount)*blockTxGuess), hdr, int(h.TxCount))
	}, func(tx []byte) { out = consensus.AppendBlockTx(out, tx) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// blockTxs reads the block at height: its header (to start), then each
// of its stored transactions in order (valid only during the call), and
// checks that the header counts them all. ErrNotBackfilled in the
// back-fill gap.
func (l *Ledger) blockTxs(height uint64, start func(*consensus.Header), tx func([]byte)) error {
	h, err := l.Header(height)
	if err != nil {
		return err
	}
	start(h)
	n := 0
	err = scan(l.db, cat(prefixTxs, be64(height)), func(_, v []byte) error {
		tx(v)
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("block %d: %w", height, l.corrupt.wrap(err))
	}
	if n != int(h.TxCount) {
		return fmt.Errorf("%w: block %d has %d of its %d txs", ErrCorrupt, height, n, h.TxCount)
	}
	return nil
}

// blockTxGuess is the bytes BlockBytes first allows a transaction: a
// cast's (about 430) and its head.
const blockTxGuess = 448

// Tx returns transaction index of the block at height; ErrNotBackfilled
// in the back-fill gap.
func (l *Ledger) Tx(height uint64, index int) ([]byte, error) {
	if l.inGap(height) {
		return nil, fmt.Errorf("tx %d of block %d: %w", index, height, ErrNotBackfilled)
	}
	key := binary.BigEndian.AppendUint32(cat(prefixTxs, be64(height)), uint32(index))
	v, found, err := l.get(key)
	if err != nil {
		return nil, err
	}
	if !found || height > l.Height() {
		return nil, fmt.Errorf("tx %d of block %d: %w", index, height, ErrNotFound)
	}
	return v, nil
}

// CommitAt returns the commit of the block at height; ErrNotBackfilled in
// the back-fill gap.
func (l *Ledger) CommitAt(height uint64) (*consensus.Commit, error) {
	return atHeight(l, "commit", prefixCommit, height, consensus.DecodeCommit)
}

// TxLocation returns the height and index of a final transaction. A
// transaction of a block not back-filled yet is not indexed: ErrNotFound.
func (l *Ledger) TxLocation(id consensus.Hash) (height uint64, index int, err error) {
	v, found, err := l.get(cat(prefixTx, id[:]))
	if err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, fmt.Errorf("tx %s: %w", id.Short(), ErrNotFound)
	}
	if len(v) != 12 {
		return 0, 0, fmt.Errorf("%w: tx index of %s", ErrCorrupt, id.Short())
	}
	return binary.BigEndian.Uint64(v), int(binary.BigEndian.Uint32(v[8:])), nil
}

// Get reads a key of the application's state. It implements the read
// side the application needs (ballot.KVReader).
func (l *Ledger) Get(key []byte) ([]byte, bool, error) {
	return l.get(cat(prefixState, key))
}

// Scan calls fn with every state key under prefix (without the ledger's
// own prefix) in increasing order. fn must not keep the slices.
func (l *Ledger) Scan(prefix []byte, fn func(key, value []byte) error) error {
	lower := cat(prefixState, prefix)
	return l.corrupt.wrap(scan(l.db, lower, func(k, v []byte) error { return fn(k[len(prefixState):], v) }))
}

// ScanAfter is Scan from the first key above prefix ‖ after (every key
// under prefix when after is empty).
func (l *Ledger) ScanAfter(prefix, after []byte, fn func(key, value []byte) error) error {
	if len(after) == 0 {
		return l.Scan(prefix, fn)
	}
	lower := cat(cat(prefixState, prefix), append(bytes.Clone(after), 0)) // the least key above prefix ‖ after
	return l.corrupt.wrap(scanRange(l.db, lower, upperBound(cat(prefixState, prefix)), func(k, v []byte) error {
		return fn(k[len(prefixState):], v)
	}))
}
