package registrar

import "container/list"

// lru is a map of at most max entries that forgets the least recently
// used one to make room: the throttle's tables, whose size an attacker
// rotating voter ids or addresses must not be able to grow.
type lru[K comparable, V any] struct {
	max   int
	order *list.List // of *lruEntry[K, V], most recent first
	index map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, order: list.New(), index: make(map[K]*list.Element)}
}

// get returns the entry of k, marked as the most recently used.
func (c *lru[K, V]) get(k K) (*V, bool) {
	e, ok := c.index[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return &e.Value.(*lruEntry[K, V]).val, true
}

// put returns the entry of k, made with zero value if it was not there
// (forgetting the least recently used entry when full).
func (c *lru[K, V]) put(k K) *V {
	if v, ok := c.get(k); ok {
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

func (c *lru[K, V]) remove(k K) {
	if e, ok := c.index[k]; ok {
		delete(c.index, k)
		c.order.Remove(e)
	}
}

func (c *lru[K, V]) len() int { return c.order.Len() }
