package app

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
	"github.com/cocorico/node/store"
)

// A block costs what it touches: applying a block of casts to one ballot
// on a chain of 3,000 ballots (issue 10's figure). Run:
// go test ./node/app -run '^$' -bench ApplyBlockAmong -benchtime 20x
func BenchmarkApplyBlockAmong3000Ballots(b *testing.B) {
	f := newAppFixtureWith(b, "", 0)
	reg := ballottest.RegistrarKey(ballot.KeyBits2048)
	org := ballottest.OrganizerKey()
	for i := 0; i < 3000; i += 500 {
		for j := i; j < i+500; j++ {
			def := &ballot.Definition{ChainID: f.g.ChainID, GenesisHash: f.g.Hash(), Question: fmt.Sprintf("Q%d?", j),
				Choices: []string{"a", "b"}, Opens: 0, Closes: 1e13,
				Registrars: []ballot.Registrar{{Name: "r", Key: ballot.MarshalRegistrarKey(&reg.PublicKey)}}}
			def.Sign(org)
			if err := f.submit(b, &ballot.Tx{Definition: def}); err != nil {
				b.Fatal(err)
			}
		}
		f.commitNext(b)
	}
	f.defineBallot(b)
	voters := make([]*ballottest.Voter, 100)
	for i := range voters {
		voters[i] = f.e.NewVoter()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, v := range voters {
			if err := f.submit(b, &ballot.Tx{Cast: f.e.Cast(v, uint64(i+1), uint32(i%3))}); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		f.commitNext(b)
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms/block")
	}
}

// BenchmarkLoadingTheStateOfALedgerOf1000000Records is what a node does
// at start on a ledger of a million voter records (each with its index
// entry and its leaf, as blocks write them): read every record, check the
// stored leaves against them and build the records list. peak-offheap-MB
// is the most the records lists held outside Go's heap while it ran (the
// leaves, when a load holds them: 32 bytes a record). Run:
// go test ./node/app -run '^$' -bench LoadingTheState -benchtime 3x
func BenchmarkLoadingTheStateOfALedgerOf1000000Records(b *testing.B) {
	const n = 1_000_000
	g, _ := ballottest.Validators("load-chain", 1, 1)
	l, err := store.Open(b.TempDir(), g.Hash(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var writes []store.KV
	var id consensus.Hash
	for e := range uint64(n) {
		binary.BigEndian.PutUint64(id[:], e*0x9E3779B97F4A7C15) // keys in another order than places
		key := append(append([]byte{'v'}, make([]byte, 32)...), id[:]...)
		rec := canon.MustMarshal(ballot.VoterRecord{Seq: 1, CastID: id, Height: 1 + e/4000, Casts: 1, Time: 1e12, Entry: e})
		leaf := ballot.RecordLeaf(key, rec)
		writes = append(writes, store.KV{Key: key, Value: rec}, store.KV{Key: ballot.EntryKey(e), Value: append(slices.Clip(key), rec...)},
			store.KV{Key: ballot.LeafKey(e), Value: leaf[:]})
		if len(writes) >= 30_000 || e == n-1 {
			if err := l.PutState(writes); err != nil {
				b.Fatal(err)
			}
			writes = writes[:0]
		}
	}
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
	rules := ballot.NewRules(g)
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if v := consensus.OffHeapBytes(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	runtime.GC()
	base := consensus.OffHeapBytes()
	b.ResetTimer()
	for range b.N {
		st, err := ballot.NewStoredKVState(rules, l, putState(l), l.Height())
		if err != nil {
			b.Fatal(err)
		}
		if st.RecordsList().Len() != n {
			b.Fatalf("%d records in the list, want %d", st.RecordsList().Len(), n)
		}
		runtime.KeepAlive(st)
	}
	b.StopTimer()
	close(done)
	b.ReportMetric(float64(peak.Load()-base)/1e6, "peak-offheap-MB")
}

// BenchmarkSubmitOneCastARequest is a busy node's clients: 64 at once,
// each request one voter's cast (the "I vote" button's), through
// SubmitMany and its verifier slots. casts/s is per second of the
// benchmark's wall clock on all cores; casts/batch, how many casts a
// batch of signatures held on average. Run:
// go test ./node/app -run '^$' -bench SubmitOneCastARequest -benchtime 4000x
func BenchmarkSubmitOneCastARequest(b *testing.B) {
	f := newAppFixture(b, "")
	f.defineBallot(b)
	f.app.pool = NewMempool(b.N+1, 1<<30, true)
	txs := make([][]byte, b.N)
	for i := range txs {
		txs[i] = (&ballot.Tx{Cast: f.e.Cast(f.e.NewVoter(), 1, uint32(i%3))}).Encode()
	}
	var next, batches atomic.Int64
	f.app.checkedBatch = func([]*ballot.Tx) { batches.Add(1) }
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(txs) {
					return
				}
				if _, err := f.app.Submit(context.Background(), txs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "casts/s")
	b.ReportMetric(float64(b.N)/float64(batches.Load()), "casts/batch")
}
