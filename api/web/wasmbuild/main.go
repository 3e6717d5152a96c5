// Command wasmbuild builds the WebAssembly voter client (../wasm) with
// GOOS=js GOARCH=wasm, stripped, gzip-compresses it and copies the Go
// toolchain's wasm_exec.js next to it, into the assets folder the node
// embeds. `go generate ./api/web` runs it; its test rebuilds into a
// temporary folder and fails when the committed copy differs.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Files are what build writes: the compressed module, the JavaScript
// glue of the toolchain that built it, and that toolchain's version.
var Files = []string{"cocorico.wasm.gz", "wasm_exec.js", "wasm.version"}

func main() {
	if err := build(context.Background(), "assets"); err != nil {
		fmt.Fprintln(os.Stderr, "wasmbuild:", err)
		os.Exit(1)
	}
}

// build writes Files into out (a folder relative to api/web or absolute).
func build(ctx context.Context, out string) error {
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	root, err := goEnv(ctx, "GOMOD")
	if err != nil {
		return err
	}
	root = filepath.Dir(root)
	tmp, err := os.MkdirTemp("", "wasmbuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	wasm := filepath.Join(tmp, "cocorico.wasm")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", wasm, "./api/web/wasm")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for js/wasm: %v\n%s", err, msg)
	}
	raw, err := os.ReadFile(wasm)
	if err != nil {
		return err
	}
	// A fixed header (no name, no time) and level: the same module gives
	// the same bytes, so the staleness test can compare files.
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return err
	}
	goroot, err := goEnv(ctx, "GOROOT")
	if err != nil {
		return err
	}
	glue, err := os.ReadFile(filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return fmt.Errorf("the toolchain's wasm_exec.js: %w", err)
	}
	version, err := goEnv(ctx, "GOVERSION")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for name, data := range map[string][]byte{Files[0]: gz.Bytes(), Files[1]: glue, Files[2]: []byte(version + "\n")} {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func goEnv(ctx context.Context, name string) (string, error) {
	v, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(v)), nil
}
