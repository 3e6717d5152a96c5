package driver

import (
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/consensus"
)

// manualClock is a Clock whose time moves only when the test advances it.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c  *manualClock
	ch chan time.Time
	at time.Time
	on bool
}

var (
	_ Clock = (*manualClock)(nil)
	_ Timer = (*manualTimer)(nil)
)

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) NewTimer(d time.Duration) Timer {
	t := &manualTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Advance moves the clock on by d and fires the timers that are due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fire()
}

// armed reports whether a timer is set to fire at exactly at.
func (c *manualClock) armed(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		if t.on && t.at.Equal(at) {
			return true
		}
	}
	return false
}

func (c *manualClock) fire() {
	for _, t := range c.timers {
		if t.on && !t.at.After(c.now) {
			t.on = false
			t.ch <- c.now // room for one: a fired timer's channel was emptied when it was set
		}
	}
}

func (t *manualTimer) C() <-chan time.Time { return t.ch }

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.on
	t.on = false
	t.drop()
	return was
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.on
	t.drop()
	t.at, t.on = t.c.now.Add(d), true
	t.c.fire()
	return was
}

// drop empties the channel: no stale time after Stop or Reset (Go 1.23).
func (t *manualTimer) drop() {
	select {
	case <-t.ch:
	default:
	}
}

// The propose timeout is an hour on the driver's clock: moving that clock
// on an hour fires it (the validator prevotes nil for want of a
// proposal) with no wall-clock wait.
func TestTimeoutsFireOnTheDriversClockNotTheWallClock(t *testing.T) {
	g, keys := testGenesis(4)
	g.Params.TimeoutProposeMs = time.Hour.Milliseconds()
	me := (g.ValidatorSet().Proposer(1, 0) + 1) % 4
	clock := &manualClock{now: g.GenesisTime.Add(time.Minute)}
	tr := &recordTransport{}
	d, err := New(Config{Genesis: g, Key: keys[me], StateDir: t.TempDir(), Clock: clock},
		&recordApp{avail: make(chan struct{}), chainID: g.ChainID}, tr)
	if err != nil {
		t.Fatal(err)
	}
	runDriver(t, d)
	timeout := clock.Now().Add(time.Hour)
	waitFor(t, "the propose timeout set an hour ahead", func() bool { return clock.armed(timeout) })
	if v := tr.votes(); len(v) != 0 {
		t.Fatalf("voted %+v before the propose timeout", v[0])
	}
	clock.Advance(time.Hour)
	waitFor(t, "a prevote for nil", func() bool { return len(tr.votes()) > 0 })
	if v := tr.votes()[0]; v.Type != consensus.Prevote || v.Height != 1 || v.Round != 0 || !v.BlockHash.IsZero() {
		t.Fatalf("first vote %+v, want a prevote for nil at height 1 round 0", v)
	}
}
