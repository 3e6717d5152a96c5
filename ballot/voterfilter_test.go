package ballot_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// countingKV counts the reads of voter records ("v" keys) of a memKV.
type countingKV struct {
	*memKV
	voterGets int
}

func (c *countingKV) Get(key []byte) ([]byte, bool, error) {
	if len(key) > 0 && key[0] == 'v' {
		c.voterGets++
	}
	return c.memKV.Get(key)
}

func TestAKVStateFindsEveryVoterRecordAndSkipsTheStoreForVotersWithout(t *testing.T) {
	f := newSnapFixture(t)
	copied := newMemKV()
	for k, v := range f.kv.m {
		copied.m[k] = bytes.Clone(v)
	}
	kv := &countingKV{memKV: copied}
	loaded, err := ballot.NewKVState(testRules, kv, f.height)
	if err != nil {
		t.Fatal(err)
	}
	// the next block (a new voter among re-votes) applied to both: the
	// state that remembered every block, the one loaded from a store
	(&snapChain{kv: copied, st: loaded, height: f.height}).block(t, 11000, f.next...)
	f.block(t, 11000, f.next...)

	states := map[string]*ballot.KVState{"remembered": f.st, "loaded": loaded}
	records := 0
	err = f.kv.Scan([]byte{'v'}, func(k, v []byte) error {
		records++
		var id consensus.Hash
		var voter ballot.VoterKey
		copy(id[:], k[1:33])
		copy(voter[:], k[33:])
		for name, st := range states {
			r, found, err := st.Voter(id, voter)
			if err != nil || !found || !bytes.Equal(canon.MustMarshal(r), v) {
				t.Fatalf("%s state: voter record %x: found %v, %v", name, k, found, err)
			}
		}
		return nil
	})
	if err != nil || records < 60 {
		t.Fatalf("%d voter records, %v", records, err)
	}

	kv.voterGets = 0
	const absent = 2000
	for i := range absent {
		var voter ballot.VoterKey
		h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
		copy(voter[:], h[:])
		for name, st := range states {
			if _, found, err := st.Voter(f.open.Ballot.ID, voter); found || err != nil {
				t.Fatalf("%s state: a voter key that never cast has a record (%v)", name, err)
			}
		}
	}
	if kv.voterGets > absent/20 {
		t.Fatalf("the loaded state read the store %d times for %d voters without a record, want under 5%%", kv.voterGets, absent)
	}
}
