package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommittedWasmIsFresh rebuilds the WebAssembly client from the
// repository and fails when the committed assets differ: run
// `go generate ./api/web` and commit. The bytes depend on the Go
// toolchain, so a toolchain other than the one that built the committed
// copy (assets/wasm.version) skips, unless COCORICO_WASM_STRICT=1 (CI).
func TestCommittedWasmIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: rebuilding the WebAssembly client takes a minute")
	}
	committed := filepath.Join("..", "assets")
	want, err := os.ReadFile(filepath.Join(committed, "wasm.version"))
	if err != nil {
		t.Fatalf("no committed WebAssembly client: %v (run go generate ./api/web)", err)
	}
	have, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Skipf("no Go toolchain to rebuild the WebAssembly client: %v", err)
	}
	if strings.TrimSpace(string(have)) != strings.TrimSpace(string(want)) {
		msg := "the committed WebAssembly client was built by " + strings.TrimSpace(string(want)) +
			", this toolchain is " + strings.TrimSpace(string(have)) + ": the bytes cannot be compared"
		if os.Getenv("COCORICO_WASM_STRICT") == "1" {
			t.Fatal(msg + " (run go generate ./api/web with the CI's toolchain)")
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := t.TempDir()
	if err := build(ctx, out); err != nil {
		if strings.Contains(err.Error(), "unsupported GOOS/GOARCH") {
			t.Skipf("this toolchain cannot build for js/wasm: %v", err)
		}
		t.Fatal(err)
	}
	for _, name := range Files {
		fresh, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		old, err := os.ReadFile(filepath.Join(committed, name))
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./api/web)", name, err)
		}
		if !bytes.Equal(fresh, old) {
			t.Errorf("api/web/assets/%s is stale: run go generate ./api/web and commit it", name)
		}
	}
}
