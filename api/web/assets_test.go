package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// The WebAssembly client asked for without gzip is inflated once and the
// copy served from then on: inflating 8 MB again for each such request
// cost the node ~50 ms of CPU, free for anyone to ask in a loop.
func TestAGzippedAssetAskedWithoutGzipIsInflatedOnceAndServedFromThatCopy(t *testing.T) {
	a, err := sharedAssets()
	if err != nil {
		t.Fatal(err)
	}
	x := a.byPlain["cocorico.wasm"]
	first, err := x.raw()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := x.raw()
	if len(first) != x.rawBytes || len(again) != len(first) || &again[0] != &first[0] {
		t.Fatalf("two asks: %d and %d bytes (raw %d), same copy %v; want the one copy", len(first), len(again), x.rawBytes, &again[0] == &first[0])
	}
	zr, err := gzip.NewReader(bytes.NewReader(x.data))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(zr)
	if !bytes.Equal(first, want) {
		t.Fatal("the copy is not the embedded file inflated")
	}
}
