package registrar

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"time"
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
	// Entries bounds each table (voter ids, addresses): the least
	// recently used entry is forgotten to make room.
	Entries int
}

// DefaultThrottle: 5 wrong codes lock a voter id for 1 minute, then 2,
// 4, … up to 1 hour; an address gets 20 wrong codes at once, then one
// every 6 seconds (10 a minute); 65,536 entries per table (about 30 MiB
// for both at their fullest, with 128-byte voter ids).
var DefaultThrottle = ThrottleConfig{
	VoterFailures: 5, VoterWindow: 15 * time.Minute,
	LockoutBase: time.Minute, LockoutMax: time.Hour,
	AddressBurst: 20, AddressEvery: 6 * time.Second,
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
	c.Entries = cmp.Or(c.Entries, d.Entries)
	return c
}

// Validate refuses a configuration that does not throttle.
func (c ThrottleConfig) Validate() error {
	if c.VoterFailures < 1 || c.AddressBurst < 1 || c.Entries < 1 {
		return errors.New("throttle: failures, burst and entries must be at least 1")
	}
	if c.VoterWindow <= 0 || c.LockoutBase <= 0 || c.LockoutMax < c.LockoutBase || c.AddressEvery <= 0 {
		return fmt.Errorf("throttle: durations must be positive and lockout max ≥ base")
	}
	return nil
}

// Throttle is the state of wrong codes per voter id and per client
// address: a pure state machine, time an argument of every method, its
// memory bounded by Entries per table. It is not safe for concurrent use.
type Throttle struct {
	cfg    ThrottleConfig
	voters *lru[string, voterState]
	addrs  *lru[string, bucket]
}

type voterState struct {
	failures    int
	last        time.Time // last wrong code
	lockouts    int
	lockedUntil time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewThrottle returns an empty throttle; cfg must be valid (zero fields
// take the defaults).
func NewThrottle(cfg ThrottleConfig) *Throttle {
	cfg = cfg.WithDefaults()
	return &Throttle{cfg: cfg, voters: newLRU[string, voterState](cfg.Entries), addrs: newLRU[string, bucket](cfg.Entries)}
}

// Wait returns how long a request for voter from addr (an AddressKey)
// must wait before its code may be checked: 0 lets it through. It
// records nothing.
func (t *Throttle) Wait(voter, addr string, now time.Time) time.Duration {
	var wait time.Duration
	if v, ok := t.voters.get(voter); ok && now.Before(v.lockedUntil) {
		wait = v.lockedUntil.Sub(now)
	}
	if b, ok := t.addrs.get(addr); ok {
		if tok := t.refill(*b, now); tok < 1 {
			wait = max(wait, time.Duration((1-tok)*float64(t.cfg.AddressEvery)))
		}
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
	v := t.voters.put(voter)
	if now.Sub(v.last) > t.cfg.VoterWindow {
		v.failures = 0
	}
	v.failures++
	v.last = now
	if v.failures >= t.cfg.VoterFailures {
		d := t.cfg.LockoutBase << min(v.lockouts, 30)
		if d > t.cfg.LockoutMax || d <= 0 {
			d = t.cfg.LockoutMax
		}
		v.lockouts++
		v.failures = 0
		v.lockedUntil = now.Add(d)
		out.Voter = d
	}
	out.Address = t.FailedFrom(addr, now)
	return out
}

// FailedFrom records a failure from addr that names no voter (a login
// that proved no identity) and returns how long addr is out of attempts
// (zero: it is not).
func (t *Throttle) FailedFrom(addr string, now time.Time) time.Duration {
	b, known := t.addrs.get(addr)
	if !known {
		b = t.addrs.put(addr)
		b.tokens, b.at = float64(t.cfg.AddressBurst), now
	}
	b.tokens, b.at = t.refill(*b, now)-1, now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(t.cfg.AddressEvery))
	}
	return 0
}

// Succeeded forgets voter's wrong codes (and its series of lockouts).
func (t *Throttle) Succeeded(voter string) { t.voters.remove(voter) }

// Len returns the number of voter ids and of addresses tracked.
func (t *Throttle) Len() (voters, addrs int) { return t.voters.len(), t.addrs.len() }

func (t *Throttle) refill(b bucket, now time.Time) float64 {
	if el := now.Sub(b.at); el > 0 {
		b.tokens += float64(el) / float64(t.cfg.AddressEvery)
	}
	return min(b.tokens, float64(t.cfg.AddressBurst))
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
