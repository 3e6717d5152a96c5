package node

import (
	"testing"
	"time"
)

// A node announces the blocks it makes final while they are recent, and
// not those it applies more than staleAnnounce after they were made (a
// volunteer replaying history would otherwise publish every old block to
// its peers); a block time ahead of the node's clock is recent.
func TestANodeAnnouncesRecentBlocksAndNotOldOnes(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	for _, c := range []struct {
		age   time.Duration
		stale bool
	}{
		{-5 * time.Second, false}, {0, false}, {time.Second, false}, {staleAnnounce, false},
		{staleAnnounce + time.Millisecond, true}, {time.Hour, true}, {30 * 24 * time.Hour, true},
	} {
		if got := stale(now, now.Add(-c.age).UnixMilli()); got != c.stale {
			t.Errorf("a block made %v before now: stale %v, want %v", c.age, got, c.stale)
		}
	}
}
