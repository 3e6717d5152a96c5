package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

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
