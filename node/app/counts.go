package app

import (
	"sync"

	"github.com/cocorico/node/consensus"
)

// countCache is the app's ballot.Counts: the last few sealed counts it
// made, so that a round change at the count's height does not decrypt
// every cast again (the proposer of the next round re-proposes the same
// shares in another block).
type countCache struct {
	mu    sync.Mutex
	order []consensus.Hash
	m     map[consensus.Hash]cachedCount
}

type cachedCount struct {
	counts  []uint64
	invalid uint64
}

// maxCachedCounts bounds the cache: counts are rare (one per sealed
// ballot) and small.
const maxCachedCounts = 8

func newCountCache() *countCache { return &countCache{m: map[consensus.Hash]cachedCount{}} }

func (c *countCache) Get(key consensus.Hash) ([]uint64, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v.counts, v.invalid, ok
}

func (c *countCache) Put(key consensus.Hash, counts []uint64, invalid uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; ok {
		return
	}
	if len(c.order) == maxCachedCounts {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.order = append(c.order, key)
	c.m[key] = cachedCount{counts, invalid}
}
