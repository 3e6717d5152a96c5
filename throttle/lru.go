// Package throttle holds the bounded tables and token buckets the node
// throttles with: pure state machines (time is an argument), their memory
// bounded whatever the keys an attacker sends. It imports only the
// standard library.
package throttle

import "container/list"

// LRU is a map of at most max entries that forgets the least recently
// used one to make room: a throttle's table, whose size an attacker
// rotating voter ids, addresses or peer ids must not be able to grow.
// It is not safe for concurrent use.
type LRU[K comparable, V any] struct {
	max   int
	order *list.List // of *lruEntry[K, V], most recent first
	index map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

// NewLRU returns an empty table of at most max entries.
func NewLRU[K comparable, V any](max int) *LRU[K, V] {
	return &LRU[K, V]{max: max, order: list.New(), index: make(map[K]*list.Element)}
}

// Get returns the entry of k, marked as the most recently used.
func (c *LRU[K, V]) Get(k K) (*V, bool) {
	e, ok := c.index[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return &e.Value.(*lruEntry[K, V]).val, true
}

// Put returns the entry of k, made with zero value if it was not there
// (forgetting the least recently used entry when full).
func (c *LRU[K, V]) Put(k K) *V {
	if v, ok := c.Get(k); ok {
		return v
	}
	if c.order.Len() >= c.max {
		last := c.order.Back()
		delete(c.index, last.Value.(*lruEntry[K, V]).key)
		c.order.Remove(last)
	}
	e := c.order.PushFront(&lruEntry[K, V]{key: k})
	c.index[k] = e
	return &e.Value.(*lruEntry[K, V]).val
}

// Remove forgets k.
func (c *LRU[K, V]) Remove(k K) {
	if e, ok := c.index[k]; ok {
		delete(c.index, k)
		c.order.Remove(e)
	}
}

// Len returns the number of entries.
func (c *LRU[K, V]) Len() int { return c.order.Len() }
