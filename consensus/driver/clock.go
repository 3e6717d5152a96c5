package driver

import (
	"slices"
	"time"

	"github.com/cocorico/node/consensus"
)

// Clock is the driver's time: the clock it reads and the timers it waits
// on. The driver reads time through it only, so that a test drives time
// by hand (or runs under testing/synctest) instead of sleeping.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that sends on its channel once d has
	// passed on this clock.
	NewTimer(d time.Duration) Timer
}

// Timer is a Clock's one-shot timer, as time.Timer (Go 1.23 semantics:
// after Stop or Reset no stale time is received).
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// SystemClock is the real clock: time.Now and time.NewTimer.
var SystemClock Clock = ClockFunc(time.Now)

// ClockFunc is a Clock that reads now from the function (the node's
// clock) and waits on real timers: timers measure durations only.
type ClockFunc func() time.Time

// Now implements Clock.
func (f ClockFunc) Now() time.Time { return f() }

// NewTimer implements Clock with time.NewTimer.
func (ClockFunc) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

var _ Clock = ClockFunc(nil)

type systemTimer struct{ t *time.Timer }

func (s systemTimer) C() <-chan time.Time        { return s.t.C }
func (s systemTimer) Stop() bool                 { return s.t.Stop() }
func (s systemTimer) Reset(d time.Duration) bool { return s.t.Reset(d) }

var _ Timer = systemTimer{}

// timeouts are the machine's pending timeouts, served by one timer of
// the driver's clock that Run owns and stops: no callback outlives Run.
type timeouts struct {
	clock   Clock
	timer   Timer
	pending []scheduled // by deadline
}

type scheduled struct {
	at time.Time
	t  consensus.Timeout
}

func newTimeouts(c Clock) *timeouts {
	tm := &timeouts{clock: c, timer: c.NewTimer(time.Hour)}
	tm.timer.Stop()
	return tm
}

// add schedules t at its Duration from now.
func (tm *timeouts) add(t consensus.Timeout) {
	s := scheduled{at: tm.clock.Now().Add(t.Duration), t: t}
	i, _ := slices.BinarySearchFunc(tm.pending, s.at, func(e scheduled, at time.Time) int {
		if e.at.After(at) {
			return 1
		}
		return -1 // equal deadlines keep the order they were set in
	})
	tm.pending = slices.Insert(tm.pending, i, s)
	tm.arm()
}

// due removes and returns the timeouts whose time has come once the timer
// fired: those at or before now, and at least the first (so that a clock
// set back does not hold up a timer that has fired).
func (tm *timeouts) due() []consensus.Timeout {
	if len(tm.pending) == 0 {
		return nil
	}
	now := tm.clock.Now()
	if first := tm.pending[0].at; now.Before(first) {
		now = first
	}
	n := 0
	for n < len(tm.pending) && !tm.pending[n].at.After(now) {
		n++
	}
	out := make([]consensus.Timeout, n)
	for i, s := range tm.pending[:n] {
		out[i] = s.t
	}
	tm.pending = slices.Delete(tm.pending, 0, n)
	tm.arm()
	return out
}

func (tm *timeouts) arm() {
	if len(tm.pending) == 0 {
		tm.timer.Stop()
		return
	}
	tm.timer.Reset(max(tm.pending[0].at.Sub(tm.clock.Now()), 0))
}

func (tm *timeouts) stop() { tm.timer.Stop() }
