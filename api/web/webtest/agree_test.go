package webtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// tamper returns a copy of the receipt JSON with one field changed.
type tamper struct {
	name   string
	change func(r map[string]any)
}

func flipBase64(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

var tampers = []tamper{
	{"untouched", func(map[string]any) {}},
	{"choice changed", func(r map[string]any) { r["cast"].(map[string]any)["choice"] = 1.0 }},
	{"voter signature flipped", func(r map[string]any) {
		c := r["cast"].(map[string]any)
		c["signature"] = flipBase64(c["signature"].(string))
	}},
	{"token flipped", func(r map[string]any) {
		c := r["cast"].(map[string]any)
		c["token"] = flipBase64(c["token"].(string))
	}},
	{"question changed", func(r map[string]any) { r["ballot"].(map[string]any)["question"] = "Another question?" }},
	{"block time moved", func(r map[string]any) { r["header"].(map[string]any)["time"] = 1.0 }},
	{"commit signature flipped", func(r map[string]any) {
		s := r["commit"].(map[string]any)["signatures"].([]any)[0].(map[string]any)
		s["signature"] = flipBase64(s["signature"].(string))
	}},
	{"proof index moved", func(r map[string]any) { r["proof"].(map[string]any)["index"] = 7.0 }},
	{"other genesis", func(r map[string]any) {
		r["genesis_hash"] = "00000000000000000000000000000000000000000000000000000000000000ff"
	}},
	{"version 2", func(r map[string]any) { r["version"] = 2.0 }},
	{"cast removed", func(r map[string]any) { delete(r, "cast") }},
	{"unknown field", func(r map[string]any) { r["extra"] = true }},
}

// The WebAssembly client's receipt check and the CLI's (ballot.Receipt.
// Verify, what `cocorico receipt verify` runs) agree, check by check and
// word for word, on the docs' vector and on tampered copies of it.
func TestWasmAndCLIReceiptChecksAgreeOnTheVectorsAndTamperedCopies(t *testing.T) {
	w := startWasm(t)
	vectors := filepath.Join("..", "..", "..", "docs", "vectors")
	genesisJSON, err := os.ReadFile(filepath.Join(vectors, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := consensus.ParseGenesis(genesisJSON)
	if err != nil {
		t.Fatal(err)
	}
	receiptJSON, err := os.ReadFile(filepath.Join(vectors, "receipt.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			var r map[string]any
			if err := json.Unmarshal(receiptJSON, &r); err != nil {
				t.Fatal(err)
			}
			tc.change(r)
			data, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "untouched" {
				data = receiptJSON
			}
			var cli *ballot.Verification
			rec, cliErr := ballot.DecodeReceipt(data)
			if cliErr == nil {
				cli = rec.Verify(g)
			}
			var browser ballot.Verification
			wasmErr := w.call(&browser, "verifyReceipt", string(genesisJSON), string(data))
			switch {
			case cliErr != nil || wasmErr != nil:
				if cliErr == nil || wasmErr == nil || cliErr.Error() != wasmErr.Error() {
					t.Fatalf("the CLI says %v, the browser %v", cliErr, wasmErr)
				}
				t.Logf("both refuse the file: %v", cliErr)
			case !reflect.DeepEqual(cli.Checks, browser.Checks) || cli.Valid != browser.Valid:
				t.Fatalf("the CLI says %+v,\nthe browser %+v", cli, browser)
			default:
				t.Logf("both say valid=%v, failed %v", cli.Valid, cli.Failed())
			}
			if (tc.name == "untouched") != (cliErr == nil && cli.Valid) {
				t.Fatalf("valid=%v for %q", cli != nil && cli.Valid, tc.name)
			}
		})
	}
}
