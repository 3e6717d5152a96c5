package ballot_test

import (
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

// testGenesis is the chain of the default test election.
var testGenesis, _ = ballottest.Validators("test-chain", 4, 0)

// testRules are its rules: 16 casts per voter key, 2 s apart.
var testRules = ballot.NewRules(testGenesis)

// applyBlock applies txs as one block at height and block time t, failing
// the test if any is refused.
func applyBlock(t testing.TB, st *ballot.MemState, height uint64, time int64, txs ...*ballot.Checked) *ballot.Update {
	t.Helper()
	b := ballot.NewBatch(st, testRules, height, time)
	for _, tx := range txs {
		if err := b.Add(tx); err != nil {
			t.Fatalf("block %d: %v", height, err)
		}
	}
	u, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	st.Apply(u)
	return u
}

func consensusProofs(txs [][]byte) (consensus.Hash, []consensus.Proof) {
	return consensus.MerkleProofs(txs)
}

func header(chainID string, height uint64, root consensus.Hash, n int) consensus.Header {
	return consensus.Header{ChainID: chainID, Height: height, Time: 2000, TxRoot: root, TxCount: uint32(n)}
}
