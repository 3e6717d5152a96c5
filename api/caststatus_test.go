package api

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

// applyingNode fakes the ledger and the mempool of a node that applies
// the block of one cast the way node.App.ApplyBlock does: the ledger
// commit first, then the mempool update. The two writes happen just
// before the handler's read number commitAt and removeAt (reads of the
// ledger's tx index and of the mempool, counted from 0), so that a test
// can put the block's application at every point of a status request.
type applyingNode struct {
	Chain   // the methods castStatus does not call are left nil
	State   //
	Backend //

	id                 consensus.Hash
	tx                 []byte
	voter              ballot.VoterKey
	commitAt, removeAt int

	reads            int
	inLedger, inPool bool
}

func (f *applyingNode) read() {
	if f.reads == f.commitAt {
		f.inLedger = true
	}
	if f.reads == f.removeAt {
		f.inPool = false
	}
	f.reads++
}

func (f *applyingNode) TxLocation(id consensus.Hash) (uint64, int, error) {
	f.read()
	if id != f.id || !f.inLedger {
		return 0, 0, fmt.Errorf("tx %s: %w", id.Short(), store.ErrNotFound)
	}
	return 7, 0, nil
}

func (f *applyingNode) Tx(height uint64, index int) ([]byte, error) { return f.tx, nil }

func (f *applyingNode) Voter(b consensus.Hash, v ballot.VoterKey) (ballot.VoterRecord, bool, error) {
	if !f.inLedger || v != f.voter {
		return ballot.VoterRecord{}, false, nil
	}
	return ballot.VoterRecord{Seq: 1, CastID: f.id, Height: 7}, true, nil
}

func (f *applyingNode) Pending(id consensus.Hash) bool {
	f.read()
	return id == f.id && f.inPool
}

// A poll of a cast's status while its block is being applied says
// "pending" or "final", never "unknown", wherever the block's ledger
// commit and mempool update fall between the handler's reads (the ledger
// and mempool are fakes that apply the block at a chosen read).
func TestCastStatusIsNeverUnknownWhileItsBlockIsAppliedWithFakeLedgerAndMempool(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	// Unsigned: castStatus checks no signature, it reads what is stored.
	c := &ballot.Cast{BallotID: consensus.Hash{1}, Voter: pub, Seq: 1, TokenPrefix: make([]byte, 32), Token: make([]byte, 256)}
	tx := (&ballot.Tx{Cast: c}).Encode()
	id, voter := ballot.TxID(tx), c.Key()

	const reads = 4 // more than castStatus makes
	for commitAt := 0; commitAt <= reads; commitAt++ {
		for removeAt := commitAt; removeAt <= reads; removeAt++ { // the mempool update follows the commit
			f := &applyingNode{id: id, tx: tx, voter: voter, commitAt: commitAt, removeAt: removeAt, inPool: true}
			s := New(Config{Chain: f, State: f, Backend: f})
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/casts/"+id.String(), nil))
			var v CastStatusView
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
				t.Fatalf("commit at read %d, mempool update at read %d: %d %s", commitAt, removeAt, rec.Code, rec.Body)
			}
			if v.Status != CastPending && v.Status != CastFinal {
				t.Errorf("commit at read %d, mempool update at read %d: status %q", commitAt, removeAt, v.Status)
			}
		}
	}
}
