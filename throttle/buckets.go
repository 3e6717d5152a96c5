package throttle

import "time"

// Buckets is a token bucket per key: burst tokens at once, then one more
// every every, in a table of at most entries keys that forgets the least
// recently used (a key forgotten starts full again). A pure state
// machine like Throttle: time is an argument, and it is not safe for
// concurrent use.
type Buckets struct {
	burst int
	every time.Duration
	table *LRU[string, bucket]
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewBuckets returns empty buckets (every key full).
func NewBuckets(burst int, every time.Duration, entries int) *Buckets {
	return &Buckets{burst: burst, every: every, table: NewLRU[string, bucket](entries)}
}

// Wait returns how long key must wait for a token: 0 when it has one. It
// takes none.
func (b *Buckets) Wait(key string, now time.Time) time.Duration {
	if k, ok := b.table.Get(key); ok {
		return b.waitFor(b.refill(*k, now))
	}
	return 0
}

// Take takes one of key's tokens, even when it has none left (its wait
// then grows), and returns how long key must now wait for the next.
func (b *Buckets) Take(key string, now time.Time) time.Duration { return b.TakeN(key, 1, now) }

// TakeN is Take of n tokens at once: what a cost known only once paid
// (the work a request made) takes.
func (b *Buckets) TakeN(key string, n int, now time.Time) time.Duration {
	k, known := b.table.Get(key)
	if !known {
		k = b.table.Put(key)
		k.tokens, k.at = float64(b.burst), now
	}
	k.tokens, k.at = b.refill(*k, now)-float64(n), now
	return b.waitFor(k.tokens)
}

// TryTake takes one of key's tokens if it has one (and returns 0), or
// returns how long it must wait for one, taking nothing.
func (b *Buckets) TryTake(key string, now time.Time) time.Duration {
	if wait := b.Wait(key, now); wait > 0 {
		return wait
	}
	b.Take(key, now)
	return 0
}

// Len returns the number of keys remembered.
func (b *Buckets) Len() int { return b.table.Len() }

// refill returns k's tokens at now: one more every b.every, at most burst.
func (b *Buckets) refill(k bucket, now time.Time) float64 {
	if el := now.Sub(k.at); el > 0 {
		k.tokens += float64(el) / float64(b.every)
	}
	return min(k.tokens, float64(b.burst))
}

func (b *Buckets) waitFor(tokens float64) time.Duration {
	if tokens < 1 {
		return time.Duration((1 - tokens) * float64(b.every))
	}
	return 0
}
