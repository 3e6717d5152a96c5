package node

import "testing"

func TestANodeStartsAFlushTheBlockBeforeEachSnapshot(t *testing.T) {
	for _, c := range []struct {
		h, interval uint64
		flush, take bool
	}{
		{h: 9, interval: 10, flush: true},
		{h: 10, interval: 10, take: true},
		{h: 11, interval: 10},
		{h: 19, interval: 10, flush: true},
		{h: 999, interval: 1000, flush: true},
		{h: 1000, interval: 1000, take: true},
		{h: 5, interval: 1, flush: true, take: true},
	} {
		flush, take := snapshotStep(c.h, c.interval)
		if flush != c.flush || take != c.take {
			t.Errorf("after block %d, interval %d: flush %v take %v, want %v %v", c.h, c.interval, flush, take, c.flush, c.take)
		}
	}
}
