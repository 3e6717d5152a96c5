package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

// Once AdmitPending transactions wait, the API's casts are answered 503
// overloaded before any check (one or a batch), while gossip still adds
// to the mempool up to its own bound.
func TestAPIClientsAreToldOverloadedWhileAdmitPendingTransactionsWait(t *testing.T) {
	g, _ := ballottest.Validators("admit-chain", 1, 3)
	_, key, _ := ed25519.GenerateKey(nil) // not a validator: nothing drains the mempool
	n, err := New(Config{Home: Home(t.TempDir()), Genesis: g, Key: key, AdmitPending: 3,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.ledger.Close()
	for i := range 3 {
		if err := n.pool.Add(&ballot.Checked{ID: consensus.Hash{byte(i + 1)}, Bytes: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	garbage := []byte("not even a transaction")
	_, err = n.Submit(context.Background(), garbage)
	if status, code := api.ErrorCode(err); !errors.Is(err, ballot.ErrOverloaded) || status != 503 || code != "overloaded" {
		t.Fatalf("one cast with 3 pending: %v (%d %s), want 503 overloaded", err, status, code)
	}
	_, errs := n.SubmitMany(context.Background(), [][]byte{garbage, garbage})
	for i, err := range errs {
		if !errors.Is(err, ballot.ErrOverloaded) {
			t.Fatalf("batch item %d: %v, want overloaded", i, err)
		}
	}
	// Below the bound, the same bytes get their real verdict.
	n.pool.Remove([]consensus.Hash{{1}})
	if _, err := n.Submit(context.Background(), garbage); err == nil || errors.Is(err, ballot.ErrOverloaded) {
		t.Fatalf("with 2 pending: %v, want the transaction's own refusal", err)
	}
	// Gossip is not held back by AdmitPending.
	n.pool.Add(&ballot.Checked{ID: consensus.Hash{9}, Bytes: []byte{9}})
	if _, errs := n.app.SubmitMany(context.Background(), [][]byte{garbage}); errors.Is(errs[0], ballot.ErrOverloaded) {
		t.Fatal("gossip refused as overloaded below the mempool's bound")
	}
}
