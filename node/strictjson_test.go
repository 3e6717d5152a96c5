package node

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/cocorico/node/api"
)

// TestReceiptWithADuplicateKeyIsRefused: the node's /v1/receipts/verify
// answers 400 bad_request to docs/vectors' receipt with "choice" twice
// (encoding/json alone verified it as the last one), and 200 to the
// receipt itself.
func TestReceiptWithADuplicateKeyIsRefused(t *testing.T) {
	g, err := ReadGenesis("../docs/vectors/genesis.json")
	if err != nil {
		t.Fatal(err)
	}
	receipt, err := os.ReadFile("../docs/vectors/receipt.json")
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	n, err := New(Config{Home: Home(t.TempDir()), Genesis: g, Key: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.ledger.Close()
	srv := httptest.NewServer(n.api.Handler())
	defer srv.Close()
	post := func(body string) (int, api.ErrorBody) {
		resp, err := http.Post(srv.URL+"/v1/receipts/verify", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb api.ErrorBody
		json.NewDecoder(resp.Body).Decode(&eb)
		return resp.StatusCode, eb
	}
	if code, _ := post(string(receipt)); code != http.StatusOK {
		t.Fatalf("the vector receipt: %d", code)
	}
	twice := strings.Replace(string(receipt), `"choice": 0`, `"choice": 2, "choice": 0`, 1)
	if code, eb := post(twice); code != http.StatusBadRequest || eb.Error.Code != "bad_request" || !strings.Contains(eb.Error.Message, "duplicate key") {
		t.Fatalf("receipt with choice twice: %d %+v, want 400 bad_request", code, eb)
	}
}
