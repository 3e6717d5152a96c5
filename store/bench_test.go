package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/cocorico/node/consensus"
)

// BenchmarkLedgerCommitBlockOf4000Casts is the ledger's part of applying
// a block of a loaded chain: 4,000 casts of 620 bytes, their index and
// 4,000 voter records, committed without fsync (the disk is not measured)
// on the OS's file system, flushes and compactions included as they come.
// An op is one block; casts/s = 4000 / (ns/op × 1e-9).
//
// It also reports the process's CPU per cast (cpu-µs/cast: Pebble's
// flushes and compactions included, on whatever goroutine they ran, up to
// the end of the compactions the writes left to do; the
// benchmark's own preparation of each block, a hash per cast, is in it
// too, ~0.3 µs) and the write amplification (tables written ÷ batches,
// Ledger.Writes): run it long enough for the LSM to take its shape
// (-benchtime 250x is a million casts).
//
// "with leaves" also writes each record's leaf hash ("l" ‖ be64(entry),
// 32 bytes), as a node does since its records list reads its leaves from
// the ledger: the ratio of the two is that write's cost. The last two
// also write each new record's index entry ("i" ‖ be64(entry)): holding
// the record's key (65 bytes), as nodes wrote it before, or its key and
// value end to end (145 bytes), as they do now that a snapshot's chunks
// are read from their entries.
func BenchmarkLedgerCommitBlockOf4000Casts(b *testing.B) {
	b.Run("records", func(b *testing.B) { benchmarkCommitBlock(b, false, 0) })
	b.Run("with leaves", func(b *testing.B) { benchmarkCommitBlock(b, true, 0) })
	b.Run("with leaves and entries of keys", func(b *testing.B) { benchmarkCommitBlock(b, true, 65) })
	b.Run("with leaves and entries of records", func(b *testing.B) { benchmarkCommitBlock(b, true, 65+80) })
}

// benchmarkCommitBlock commits blocks of new records, with their leaves
// if leaves, and their index entries of entry bytes if entry > 0.
func benchmarkCommitBlock(b *testing.B, leaves bool, entry int) {
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
	if leaves {
		for range casts {
			writes = append(writes, KV{Key: make([]byte, 9), Value: make([]byte, 32)})
		}
	}
	entries := len(writes)
	if entry > 0 {
		for range casts {
			writes = append(writes, KV{Key: make([]byte, 9), Value: make([]byte, entry)})
		}
	}
	prev := genesis
	cpu0 := cpuTime()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		h := uint64(n + 1)
		for i := range txs {
			binary.BigEndian.PutUint64(txs[i], h) // every cast and record is new
			ids[i] = consensus.Sum(txs[i])
			writes[i].Key[0] = 'v'
			copy(writes[i].Key[1:], ids[i][:])
			if leaves {
				w := writes[casts+i]
				w.Key[0] = 'l'
				binary.BigEndian.PutUint64(w.Key[1:], uint64(n*casts+i))
				copy(w.Value, ids[i][:])
			}
			if entry > 0 {
				w := writes[entries+i]
				w.Key[0] = 'i'
				binary.BigEndian.PutUint64(w.Key[1:], uint64(n*casts+i))
				copy(w.Value, writes[i].Key)
				copy(w.Value[len(writes[i].Key):], ids[i][:])
			}
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
	b.StopTimer()
	b.ReportMetric(float64(casts*b.N)/b.Elapsed().Seconds(), "casts/s")
	// The compactions the writes left to do are part of their cost: a
	// node that writes as fast as this has no spare time to defer them to.
	// (Pebble's estimated debt need not fall to 0: the end is a second
	// without a compaction running.)
	for idle, deadline := 0, time.Now().Add(5*time.Minute); idle < 10 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if l.db.Metrics().Compact.NumInProgress == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(casts*b.N), "cpu-µs/cast")
	if w := l.Writes(); w.Batches > 0 {
		b.ReportMetric(float64(w.Tables)/float64(w.Batches), "write-amp")
	}
}

// cpuTime returns the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLedgerReadSixteenLeavesAmongAMillion is what a re-vote reads
// back on a node whose records list reads its leaves from the ledger: the
// 16 leaf hashes of its group ("l" ‖ be64(entry)), by one scan from the
// group's first, among a million, at random.
func BenchmarkLedgerReadSixteenLeavesAmongAMillion(b *testing.B) {
	const n = 1_000_000
	l := ledgerOfRecords(b, n, func(e uint64) KV {
		v := consensus.Sum(binary.BigEndian.AppendUint64(nil, e))
		return KV{Key: binary.BigEndian.AppendUint64([]byte{'l'}, e), Value: v[:]}
	})
	defer l.Close()
	var x uint64 = 7
	b.ResetTimer()
	for range b.N {
		x = x*6364136223846793005 + 1442695040888963407
		from := ((x>>20)%(n/16-1) + 1) * 16 // above 0: ScanAfter starts above from-1
		got := 0
		err := l.ScanAfter([]byte{'l'}, binary.BigEndian.AppendUint64(nil, from-1), func(k, v []byte) error {
			if got++; got == 16 {
				return errEnoughLeaves
			}
			return nil
		})
		if err != errEnoughLeaves {
			b.Fatalf("group at %d: %d leaves, %v", from, got, err)
		}
	}
}

var errEnoughLeaves = errors.New("enough")

// BenchmarkLedgerGetAmongAMillionRecords is a point read of the state, as
// checking a cast reads its voter key's record: among a million records
// of a voter record's sizes (65-byte key, 80-byte value), at random; "hit"
// reads a record that is there, "miss" one that is not (a first vote),
// which the tables' bloom filters answer.
func BenchmarkLedgerGetAmongAMillionRecords(b *testing.B) {
	const n = 1_000_000
	key := func(e uint64) []byte {
		id := consensus.Sum(binary.BigEndian.AppendUint64(nil, e))
		k := make([]byte, 65)
		k[0] = 'v'
		copy(k[1:], id[:])
		copy(k[33:], id[:])
		return k
	}
	l := ledgerOfRecords(b, n, func(e uint64) KV { return KV{Key: key(2 * e), Value: make([]byte, 80)} })
	defer l.Close()
	for _, c := range []struct {
		name string
		odd  uint64
	}{{"hit", 0}, {"miss", 1}} {
		b.Run(c.name, func(b *testing.B) {
			var x uint64 = 7
			for range b.N {
				x = x*6364136223846793005 + 1442695040888963407
				_, found, err := l.Get(key(2*((x>>20)%n) + c.odd))
				if err != nil || found != (c.odd == 0) {
					b.Fatalf("found %v, err %v", found, err)
				}
			}
		})
	}
}

// ledgerOfRecords returns a ledger (the caller closes it) holding
// the state records kv(0)..kv(n-1), written 10,000 a batch.
func ledgerOfRecords(b *testing.B, n uint64, kv func(e uint64) KV) *Ledger {
	l, err := Open(b.TempDir(), genesis, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	writes := make([]KV, 0, 10_000)
	for e := range n {
		if writes = append(writes, kv(e)); len(writes) == cap(writes) || e == n-1 {
			if err := l.PutState(writes); err != nil {
				b.Fatal(err)
			}
			writes = writes[:0]
		}
	}
	return l
}

// BenchmarkLedgerServeBlockOf4000Casts is a block sync server's read of a
// stored block of 4,000 casts of 430 bytes (an answer of 64 blocks does
// it 64 times): "decoded" reads the block (Block) and encodes it again,
// as the server did; "bytes" writes the encoding straight from the
// stored transactions (BlockBytes). An op is one block.
func BenchmarkLedgerServeBlockOf4000Casts(b *testing.B) {
	l := ledgerOfBlocksOf4000Casts(b)
	serve := map[string]func(h uint64) ([]byte, error){
		"decoded": func(h uint64) ([]byte, error) {
			blk, err := l.Block(h)
			if err != nil {
				return nil, err
			}
			return blk.Encode(), nil
		},
		"bytes": l.BlockBytes,
	}
	for _, name := range []string{"decoded", "bytes"} {
		b.Run(name, func(b *testing.B) {
			for n := range b.N {
				data, err := serve[name](uint64(n%servedBlocks + 1))
				if err != nil || len(data) < servedCasts*430 {
					b.Fatalf("%d bytes, %v", len(data), err)
				}
			}
		})
	}
}

// BenchmarkLedgerReadBlockOf4000Casts is a recount's read of a stored
// block of 4,000 casts of 430 bytes (Block: each transaction copied out
// of the store). An op is one block. Copying them into one buffer
// instead halved its time here (0.85-1.16 ms against 1.69-2.15, 12
// allocations against 4,012), but not in a recount of a 200,000-cast
// chain, where a block's megabytes in one allocation came as fresh
// pages, and the copy cost what the allocations had.
func BenchmarkLedgerReadBlockOf4000Casts(b *testing.B) {
	l := ledgerOfBlocksOf4000Casts(b)
	b.ReportAllocs()
	b.ResetTimer() // the ledger's making is not the read
	for n := range b.N {
		blk, err := l.Block(uint64(n%servedBlocks + 1))
		if err != nil || len(blk.Txs) != servedCasts {
			b.Fatalf("%v, %v", blk, err)
		}
	}
}

// The ledger of the block-read benchmarks: servedBlocks blocks of
// servedCasts random casts of 430 bytes.
const servedCasts, servedBlocks = 4000, 8

func ledgerOfBlocksOf4000Casts(b *testing.B) *Ledger {
	l, err := Open(b.TempDir(), genesis, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	prev := genesis
	for h := uint64(1); h <= servedBlocks; h++ {
		txs := make([][]byte, servedCasts)
		ids := make([]consensus.Hash, servedCasts)
		for i := range txs {
			txs[i] = make([]byte, 430)
			rand.Read(txs[i])
			ids[i] = consensus.Sum(txs[i])
		}
		blk := &consensus.Block{Header: consensus.Header{ChainID: "c", Height: h, Time: int64(h) * 1000,
			PrevHash: prev, TxRoot: consensus.MerkleRoot(txs), TxCount: servedCasts}, Txs: txs}
		if err := l.Commit(blk, testCommit(blk), ids, nil); err != nil {
			b.Fatal(err)
		}
		prev = blk.Hash()
	}
	return l
}
