//go:build unix

package consensus

import (
	"fmt"
	"syscall"
	"unsafe"
)

// mapChunk maps a chunk of private memory, zeroed by the system.
func mapChunk() ([]Hash, bool) {
	b, err := syscall.Mmap(-1, 0, chunkBytes, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		// Out of address space or of mappings (vm.max_map_count): as
		// out of memory, which Go's allocator would not survive either.
		panic(fmt.Sprintf("consensus: mapping %d bytes for a Merkle list: %v", chunkBytes, err))
	}
	return unsafe.Slice((*Hash)(unsafe.Pointer(&b[0])), chunkLen), true
}

func unmapChunk(c []Hash) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), chunkBytes)
	if err := syscall.Munmap(b); err != nil {
		panic(fmt.Sprintf("consensus: unmapping a Merkle list's chunk: %v", err))
	}
}
