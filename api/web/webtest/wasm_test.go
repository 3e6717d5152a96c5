package webtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
)

// wasmClient is the served WebAssembly module running under Node.js.
type wasmClient struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

// startWasm runs api/web/assets' module (the bytes the node serves) under
// Node.js with the committed wasm_exec.js; it skips without node.
func startWasm(t *testing.T) *wasmClient {
	t.Helper()
	nodejs, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no Node.js to run the WebAssembly client (apt-get install nodejs)")
	}
	assets := filepath.Join("..", "assets")
	cmd := exec.Command(nodejs, filepath.Join("testdata", "harness.js"),
		mustAbs(t, filepath.Join(assets, "wasm_exec.js")), filepath.Join(assets, "cocorico.wasm.gz"))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	return &wasmClient{in: in, out: sc}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// call runs fn(args...) in the module and decodes its answer into out;
// an {"error": ...} answer is returned as an error.
func (w *wasmClient) call(out any, fn string, args ...any) error {
	line, err := json.Marshal(map[string]any{"fn": fn, "args": args})
	if err != nil {
		return err
	}
	if _, err := w.in.Write(append(line, '\n')); err != nil {
		return err
	}
	if !w.out.Scan() {
		return fmt.Errorf("the module stopped: %v", w.out.Err())
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(w.out.Bytes(), &e); err == nil && e.Error != "" {
		return errors.New(e.Error)
	}
	return json.Unmarshal(w.out.Bytes(), out)
}
