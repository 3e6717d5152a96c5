package registrar

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cocorico/node/throttle"
)

// ThrottleConfig sets how wrong codes are throttled. Zero fields take the
// defaults of DefaultThrottle (docs/OPERATIONS.md, registrar).
type ThrottleConfig struct {
	// VoterFailures wrong codes for one voter id lock it out.
	VoterFailures int
	// VoterWindow: a voter's wrong codes older than this are forgotten.
	VoterWindow time.Duration
	// LockoutBase is the first lockout of a voter id; each further one
	// doubles, up to LockoutMax. A right code ends the series.
	LockoutBase, LockoutMax time.Duration
	// AddressBurst wrong codes from one client address at once, then one
	// more every AddressEvery (a token bucket per address; an IPv6
	// address counts by its /64).
	AddressBurst int
	AddressEvery time.Duration
	// VoterChecks right codes for one voter id at once, then one more
	// every VoterChecksEvery: a right code costs the slow hash as a
	// wrong one does, and whoever holds one voter's code could otherwise
	// keep the check slots busy with it (re-asking for the token, or for
	// another one: already_issued), slowing every other voter's check.
	VoterChecks      int
	VoterChecksEvery time.Duration
	// Entries bounds each table (voter ids with wrong codes, voter ids
	// with lockouts, addresses): the least recently used entry is
	// forgotten to make room, but for lockouts (see seriesTable).
	Entries int
}

// DefaultThrottle: 5 wrong codes lock a voter id for 1 minute, then 2,
// 4, … up to 1 hour; an address gets 20 wrong codes at once, then one
// every 6 seconds (10 a minute); a voter id 5 right codes at once, then
// one every 12 seconds (5 a minute); 65,536 entries per table (about
// 60 MiB for the four at their fullest, with 128-byte voter ids).
var DefaultThrottle = ThrottleConfig{
	VoterFailures: 5, VoterWindow: 15 * time.Minute,
	LockoutBase: time.Minute, LockoutMax: time.Hour,
	AddressBurst: 20, AddressEvery: 6 * time.Second,
	VoterChecks: 5, VoterChecksEvery: 12 * time.Second,
	Entries: 1 << 16,
}

// WithDefaults returns c with its zero fields set from DefaultThrottle.
func (c ThrottleConfig) WithDefaults() ThrottleConfig {
	d := DefaultThrottle
	c.VoterFailures = cmp.Or(c.VoterFailures, d.VoterFailures)
	c.VoterWindow = cmp.Or(c.VoterWindow, d.VoterWindow)
	c.LockoutBase = cmp.Or(c.LockoutBase, d.LockoutBase)
	c.LockoutMax = cmp.Or(c.LockoutMax, d.LockoutMax)
	c.AddressBurst = cmp.Or(c.AddressBurst, d.AddressBurst)
	c.AddressEvery = cmp.Or(c.AddressEvery, d.AddressEvery)
	c.VoterChecks = cmp.Or(c.VoterChecks, d.VoterChecks)
	c.VoterChecksEvery = cmp.Or(c.VoterChecksEvery, d.VoterChecksEvery)
	c.Entries = cmp.Or(c.Entries, d.Entries)
	return c
}

// Validate refuses a configuration that does not throttle.
func (c ThrottleConfig) Validate() error {
	if c.VoterFailures < 1 || c.AddressBurst < 1 || c.VoterChecks < 1 || c.Entries < 1 {
		return errors.New("throttle: failures, bursts and entries must be at least 1")
	}
	if c.VoterWindow <= 0 || c.LockoutBase <= 0 || c.LockoutMax < c.LockoutBase || c.AddressEvery <= 0 || c.VoterChecksEvery <= 0 {
		return fmt.Errorf("throttle: durations must be positive and lockout max ≥ base")
	}
	return nil
}

// Throttle is the state of wrong codes per voter id and per client
// address: a pure state machine, time an argument of every method, its
// memory bounded by Entries per table. It is not safe for concurrent use.
//
// A voter id's wrong codes since its last lockout are in a table that
// forgets the least recently seen id to make room; its series of lockouts
// is in a table of its own that never does so while another series' last
// lockout ended earlier (seriesTable). Rotating through many voter ids
// could otherwise flush a locked-out id and try again at once.
//
// A voter id's right codes are in a token bucket of their own (a table
// that forgets the least recently used: flushing one takes as many other
// voters' right codes).
type Throttle struct {
	cfg    ThrottleConfig
	voters *throttle.LRU[string, voterState]
	series *seriesTable
	addrs  *throttle.Buckets // wrong codes per address
	rights *throttle.Buckets // right codes per voter id
}

type voterState struct {
	failures int
	last     time.Time // last wrong code
}

// NewThrottle returns an empty throttle; cfg must be valid (zero fields
// take the defaults).
func NewThrottle(cfg ThrottleConfig) *Throttle {
	cfg = cfg.WithDefaults()
	return &Throttle{cfg: cfg, voters: throttle.NewLRU[string, voterState](cfg.Entries),
		series: newSeriesTable(cfg.Entries), addrs: throttle.NewBuckets(cfg.AddressBurst, cfg.AddressEvery, cfg.Entries),
		rights: throttle.NewBuckets(cfg.VoterChecks, cfg.VoterChecksEvery, cfg.Entries)}
}

// Wait returns how long a request for voter from addr (an AddressKey)
// must wait before its code may be checked: 0 lets it through. It
// records nothing.
func (t *Throttle) Wait(voter, addr string, now time.Time) time.Duration {
	var wait time.Duration
	if s, ok := t.series.get(voter); ok && now.Before(s.until) {
		wait = s.until.Sub(now)
	}
	wait = max(wait, t.addrs.Wait(addr, now))
	if voter != "" {
		wait = max(wait, t.rights.Wait(voter, now))
	}
	return wait
}

// Lockout is what a wrong code started: a voter id locked out for
// Voter, an address out of wrong codes for Address (zero: nothing).
type Lockout struct {
	Voter, Address time.Duration
}

// Failed records a wrong code for voter from addr.
func (t *Throttle) Failed(voter, addr string, now time.Time) Lockout {
	var out Lockout
	v := t.voters.Put(voter)
	if now.Sub(v.last) > t.cfg.VoterWindow {
		v.failures = 0
	}
	v.failures++
	v.last = now
	if v.failures >= t.cfg.VoterFailures {
		lockouts := 0
		if s, ok := t.series.get(voter); ok {
			lockouts = s.lockouts
		}
		d := t.cfg.LockoutBase << min(lockouts, 30)
		if d > t.cfg.LockoutMax || d <= 0 {
			d = t.cfg.LockoutMax
		}
		t.series.set(voter, lockouts+1, now.Add(d))
		v.failures = 0
		out.Voter = d
	}
	out.Address = t.FailedFrom(addr, now)
	return out
}

// FailedFrom records a failure from addr that names no voter (a login
// that proved no identity) and returns how long addr is out of attempts
// (zero: it is not).
func (t *Throttle) FailedFrom(addr string, now time.Time) time.Duration {
	return t.addrs.Take(addr, now)
}

// Succeeded records a right code for voter: it forgets the voter's wrong
// codes (and its series of lockouts) and takes one of its right codes.
func (t *Throttle) Succeeded(voter string, now time.Time) {
	t.voters.Remove(voter)
	t.series.remove(voter)
	t.rights.Take(voter, now)
}

// Len returns the number of voter ids with wrong codes, of voter ids with
// a series of lockouts, of addresses and of voter ids with right codes
// tracked.
func (t *Throttle) Len() (voters, series, addrs, rights int) {
	return t.voters.Len(), t.series.len(), t.addrs.Len(), t.rights.Len()
}

// AddressKey is the throttle's key of a client address: an IPv4 address
// itself, an IPv6 address by its /64 (what one subscriber usually holds),
// and "" for an unknown one.
func AddressKey(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.Is4():
		return a.String()
	case a.Is6():
		p, _ := a.Prefix(64)
		return p.String()
	}
	return ""
}

// seriesTable holds the voter ids with a series of lockouts: how many, and
// until when the last one lasts. When full, it forgets the series whose
// last lockout ended (or ends) first, never the least recently seen: to
// flush a locked-out id, rotating ids must first lock out as many others
// after it (Entries × VoterFailures wrong codes, each bounded per address),
// and they gain at most what was left of its lockout. A series otherwise
// lasts until a right code ends it, as long as the table has room.
type seriesTable struct {
	max  int
	byID map[string]*series
	heap seriesHeap // earliest end first
}

type series struct {
	voter    string
	lockouts int
	until    time.Time
	index    int // in the heap
}

func newSeriesTable(max int) *seriesTable {
	return &seriesTable{max: max, byID: make(map[string]*series)}
}

func (t *seriesTable) get(voter string) (*series, bool) {
	s, ok := t.byID[voter]
	return s, ok
}

// set records voter's series: lockouts so far, the last one until then.
func (t *seriesTable) set(voter string, lockouts int, until time.Time) {
	if s, ok := t.byID[voter]; ok {
		s.lockouts, s.until = lockouts, until
		heap.Fix(&t.heap, s.index)
		return
	}
	if len(t.heap) >= t.max {
		delete(t.byID, heap.Pop(&t.heap).(*series).voter)
	}
	s := &series{voter: voter, lockouts: lockouts, until: until}
	heap.Push(&t.heap, s)
	t.byID[voter] = s
}

func (t *seriesTable) remove(voter string) {
	if s, ok := t.byID[voter]; ok {
		heap.Remove(&t.heap, s.index)
		delete(t.byID, voter)
	}
}

func (t *seriesTable) len() int { return len(t.heap) }

// seriesHeap is a container/heap of series by end of their last lockout.
type seriesHeap []*series

func (h seriesHeap) Len() int           { return len(h) }
func (h seriesHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h seriesHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *seriesHeap) Push(x any) {
	s := x.(*series)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *seriesHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}
