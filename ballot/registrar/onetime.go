package registrar

import (
	"time"

	"github.com/cocorico/node/throttle"
)

// OneTime is a bounded table of single-use entries that expire: the
// logins under way (by state) and the sessions minted by logins (by
// session id). Taking an entry removes it; an expired entry is never
// given out. When full, the least recently used entry is forgotten (its
// login must start again), so an attacker starting logins cannot grow
// the table. Time is an argument; it is not safe for concurrent use.
type OneTime[V any] struct {
	entries *throttle.LRU[string, oneTimeEntry[V]]
}

type oneTimeEntry[V any] struct {
	val     V
	expires time.Time
}

// NewOneTime returns an empty table of at most max entries.
func NewOneTime[V any](max int) *OneTime[V] {
	return &OneTime[V]{entries: throttle.NewLRU[string, oneTimeEntry[V]](max)}
}

// Put adds v under key until expires.
func (t *OneTime[V]) Put(key string, v V, expires time.Time) {
	*t.entries.Put(key) = oneTimeEntry[V]{val: v, expires: expires}
}

// PutNew adds v under key until expires unless key holds an entry not
// expired at now; it reports whether it added v.
func (t *OneTime[V]) PutNew(key string, v V, expires, now time.Time) bool {
	if e, ok := t.entries.Get(key); ok && now.Before(e.expires) {
		return false
	}
	t.Put(key, v, expires)
	return true
}

// Take removes and returns the entry of key, if it is there and not
// expired at now.
func (t *OneTime[V]) Take(key string, now time.Time) (V, bool) {
	var zero V
	e, ok := t.entries.Get(key)
	if !ok {
		return zero, false
	}
	v, expires := e.val, e.expires
	t.entries.Remove(key)
	if !now.Before(expires) {
		return zero, false
	}
	return v, true
}

// Len is the number of entries held (expired ones included until taken
// or pushed out).
func (t *OneTime[V]) Len() int { return t.entries.Len() }
