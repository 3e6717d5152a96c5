package store

import (
	"crypto/rand"
	"encoding/binary"
	"testing"

	"github.com/cocorico/node/consensus"
)

// BenchmarkLedgerCommitBlockOf4000Casts is the ledger's part of applying
// a block of a loaded chain: 4,000 casts of 620 bytes, their index and
// 4,000 voter records, committed without fsync (the disk is not measured)
// on the OS's file system, flushes and compactions included as they come.
// An op is one block; casts/s = 4000 / (ns/op × 1e-9).
func BenchmarkLedgerCommitBlockOf4000Casts(b *testing.B) {
	const casts = 4000
	l, err := Open(b.TempDir(), genesis, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	txs := make([][]byte, casts)
	ids := make([]consensus.Hash, casts)
	writes := make([]KV, casts)
	for i := range txs {
		txs[i] = make([]byte, 620)
		rand.Read(txs[i])
		writes[i] = KV{Key: make([]byte, 65), Value: make([]byte, 80)}
	}
	prev := genesis
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		h := uint64(n + 1)
		for i := range txs {
			binary.BigEndian.PutUint64(txs[i], h) // every cast and record is new
			ids[i] = consensus.Sum(txs[i])
			writes[i].Key[0] = 'v'
			copy(writes[i].Key[1:], ids[i][:])
		}
		blk := &consensus.Block{Header: consensus.Header{ChainID: "c", Height: h, Time: int64(h) * 1000,
			PrevHash: prev, TxCount: casts}, Txs: txs}
		c := testCommit(blk)
		b.StartTimer()
		if err := l.Commit(blk, c, ids, writes); err != nil {
			b.Fatal(err)
		}
		prev = blk.Hash()
	}
	b.ReportMetric(float64(casts*b.N)/b.Elapsed().Seconds(), "casts/s")
}
