//go:build !unix

package consensus

// Without mmap (the browser's WebAssembly), chunks are in Go's heap.
func mapChunk() ([]Hash, bool) { return make([]Hash, chunkLen), false }

func unmapChunk([]Hash) {}
