package store

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocorico/node/consensus"
)

// Issuances made at once are each synced before their Issue returns (in
// groups): after a reopen, every one answered is there, the one-record
// rule held for a voter asked many times at once, and the counts agree.
func TestConcurrentIssuancesAreAllDurableAndOnePerVoter(t *testing.T) {
	dir := t.TempDir()
	r, err := OpenRegistry(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ballot := consensus.Sum([]byte("ballot"))
	const voters, sameVoter = 300, 50
	var wg sync.WaitGroup
	var recorded atomic.Int64
	issue := func(voter string) {
		defer wg.Done()
		err := r.Issue(ballot, voter, func(prior []byte) ([]byte, error) {
			if prior != nil {
				return nil, nil // answered again, nothing new
			}
			return []byte("record of " + voter), nil
		})
		if err != nil {
			t.Error(err)
			return
		}
		recorded.Add(1)
	}
	for i := range voters {
		wg.Add(1)
		go issue(fmt.Sprintf("v%03d", i))
	}
	for range sameVoter {
		wg.Add(1)
		go issue("everyone-at-once")
	}
	wg.Wait()
	if n := r.Issued(ballot); n != voters+1 || recorded.Load() != voters+sameVoter {
		t.Fatalf("issued %d (want %d), answered %d", n, voters+1, recorded.Load())
	}
	r.Close()
	r, err = OpenRegistry(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := r.Issued(ballot); n != voters+1 {
		t.Fatalf("after reopening: %d records, want %d", n, voters+1)
	}
}

// BenchmarkIssuanceRecords records b.N issuances from 32 goroutines at
// once, synced: "group" through Issue (the group committer), "direct"
// as Issue did before it, one pebble.Sync Set per record under the
// voter's lock (Pebble then merges concurrent syncs itself). It isolates
// the store's part of a token's cost; it reports records/s.
func BenchmarkIssuanceRecords(b *testing.B) {
	for _, mode := range []string{"group", "direct"} {
		b.Run(mode, func(b *testing.B) {
			r, err := OpenRegistry(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			ballot := consensus.Sum([]byte("ballot"))
			rec := make([]byte, 48)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range 32 {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						voter := fmt.Sprintf("v%09d", i)
						if mode == "group" {
							if err := r.Issue(ballot, voter, func([]byte) ([]byte, error) { return rec, nil }); err != nil {
								b.Error(err)
							}
							continue
						}
						key := cat(cat(prefixIssuance, ballot[:]), []byte(voter))
						mu := &r.stripe[maphash.Bytes(r.seed, key)%uint64(len(r.stripe))]
						mu.Lock()
						if _, _, err := getClone(r.db, key); err != nil {
							b.Error(err)
						}
						if err := r.db.Set(key, rec, pebble.Sync); err != nil {
							b.Error(err)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
