package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/cocorico/node/consensus"
)

// vectorGenesis is a fake node that only knows the genesis of
// docs/vectors (the receipt vector's chain).
type vectorGenesis struct {
	Backend // the methods the receipt check does not call are left nil
	g       *consensus.Genesis
}

func (v vectorGenesis) Genesis() *consensus.Genesis { return v.g }

// noBlocks is a fake ledger that holds no block.
type noBlocks struct{ Chain }

func (noBlocks) Header(h uint64) (*consensus.Header, error) {
	return nil, fmt.Errorf("%w: no block %d", ErrNotFound, h)
}

// Receipt checks take turns node-wide (ReceiptVerifiers): a real receipt
// is free to send again and again, so however many addresses send them,
// the node verifies ReceiptVerifiers at once; a request that finds no turn
// within ReceiptVerifyWait is answered 503 overloaded, unchecked, and
// costs its address no attempt. Once the turn is free, the same receipt
// is checked (its nine offline checks pass; this fake ledger has no block).
func TestReceiptChecksTakeTurnsNodeWideAndAnOverlongWaitIsOverloadedWithAFakeLedger(t *testing.T) {
	gdata, err := os.ReadFile("../docs/vectors/genesis.json")
	if err != nil {
		t.Fatal(err)
	}
	g, err := consensus.ParseGenesis(gdata)
	if err != nil {
		t.Fatal(err)
	}
	receipt, err := os.ReadFile("../docs/vectors/receipt.json")
	if err != nil {
		t.Fatal(err)
	}
	var body json.RawMessage = receipt
	s := New(Config{Backend: vectorGenesis{g: g}, Chain: noBlocks{}, Refusals: RefusalLimits{Burst: 1, Every: 3600e9}})

	for range ReceiptVerifiers {
		s.verifiers <- struct{}{} // every turn taken, as by receipts being checked
	}
	w := post(t, s, "/v1/receipts/verify", "192.0.2.1:1000", body)
	var e ErrorBody
	json.Unmarshal(w.Body.Bytes(), &e)
	if w.Code != http.StatusServiceUnavailable || e.Error.Code != "overloaded" || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("a receipt while every turn is taken: %d %s (Retry-After %q), want 503 overloaded, Retry-After 1", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	for range ReceiptVerifiers {
		<-s.verifiers
	}

	// The same address (a budget of one attempt: the 503 cost none).
	w = post(t, s, "/v1/receipts/verify", "192.0.2.1:1000", body)
	var v VerifyView
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != http.StatusOK {
		t.Fatalf("the receipt once a turn is free: %d %s", w.Code, w.Body)
	}
	ok := 0
	for _, c := range v.Checks {
		if c.OK {
			ok++
		} else if c.Name != "on_chain" {
			t.Errorf("the vector receipt fails %s: %s", c.Name, c.Detail)
		}
	}
	if ok != 9 || v.Valid {
		t.Errorf("%d checks pass, valid=%v; want the nine offline ones, and not valid without the block", ok, v.Valid)
	}
	if n := len(s.verifiers); n != 0 {
		t.Errorf("%d turns still taken after the check", n)
	}
}
