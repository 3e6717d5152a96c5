package consensus

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The full chunks of a MerkleList's levels live outside Go's heap where
// the system allows it (mmap on Unix). They hold no pointers, and they are
// most of what grows with the chain: a node's records list is about 40 MB
// a million voter records, 1.6 GB at the reference scale. In Go's heap the
// collector lets live memory double before it collects, so each hash there
// costs twice its size in the process's peak memory; outside it, once.
//
// A list owns its chunks through an offHeap, which it shares with the
// builder that made it: when neither is reachable any more, a cleanup
// unmaps every chunk. Every method that reads a chunk keeps its list
// reachable until it returns (runtime.KeepAlive): a chunk must not be
// unmapped under a read. No reference into a chunk escapes the list:
// readers get copies.

const chunkBytes = chunkLen * int(unsafe.Sizeof(Hash{})) // 128 KiB

// offHeapBytes is how many bytes of chunks are mapped, for OffHeapBytes.
var offHeapBytes atomic.Int64

// OffHeapBytes returns how many bytes the Merkle lists hold outside Go's
// heap (0 where the system has no mmap: there they are in the heap).
func OffHeapBytes() int64 { return offHeapBytes.Load() }

// offHeap is the set of chunks of one list (and its builder).
type offHeap struct{ owned *ownedChunks }

type ownedChunks struct {
	mu     sync.Mutex // the cleanup runs on a goroutine of its own
	chunks map[*Hash][]Hash
}

func newOffHeap() *offHeap {
	o := &offHeap{owned: &ownedChunks{chunks: map[*Hash][]Hash{}}}
	runtime.AddCleanup(o, (*ownedChunks).releaseAll, o.owned)
	return o
}

// chunk returns a new chunk of chunkLen hashes, all zero, with length 0.
func (o *offHeap) chunk() []Hash {
	c, mapped := mapChunk()
	if mapped {
		o.owned.mu.Lock()
		o.owned.chunks[&c[0]] = c
		o.owned.mu.Unlock()
		offHeapBytes.Add(int64(chunkBytes))
	}
	return c[:0]
}

// release gives back the chunks of level, which must not be used again.
func (o *offHeap) release(level hashes) {
	o.owned.mu.Lock()
	defer o.owned.mu.Unlock()
	for _, c := range level.chunks {
		if cap(c) != chunkLen {
			continue
		}
		c = c[:chunkLen]
		if _, ok := o.owned.chunks[&c[0]]; ok {
			delete(o.owned.chunks, &c[0])
			unmapChunk(c)
			offHeapBytes.Add(-int64(chunkBytes))
		}
	}
}

func (w *ownedChunks) releaseAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, c := range w.chunks {
		unmapChunk(c)
		offHeapBytes.Add(-int64(chunkBytes))
		delete(w.chunks, k)
	}
}
