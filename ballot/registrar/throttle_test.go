package registrar

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

var t0 = time.UnixMilli(1_000_000)

func TestThrottleTablesStayBoundedWhateverTheKeys(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Entries: 8})
	for i := range 10_000 {
		th.Failed(fmt.Sprintf("voter-%d", i), fmt.Sprintf("addr-%d", i), t0)
	}
	for i := range 10_000 {
		th.Succeeded(fmt.Sprintf("right-%d", i), t0)
	}
	if v, l, a, r := th.Len(); v > 8 || l > 8 || a > 8 || r > 8 {
		t.Fatalf("tables hold %d voters, %d series of lockouts, %d addresses and %d voters with right codes, bound 8", v, l, a, r)
	}
}

func TestLockoutsDoubleUpToTheMaxAndARightCodeEndsThem(t *testing.T) {
	th := NewThrottle(ThrottleConfig{VoterFailures: 2, LockoutBase: time.Minute, LockoutMax: 3 * time.Minute, AddressBurst: 1000})
	now := t0
	var got []time.Duration
	for range 4 {
		th.Failed("v", "a", now)
		lock := th.Failed("v", "a", now)
		if w := th.Wait("v", "other", now); w != lock.Voter {
			t.Fatalf("wait %v, lockout %v", w, lock.Voter)
		}
		got = append(got, lock.Voter)
		now = now.Add(lock.Voter)
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lockouts %v, want %v", got, want)
	}
	th.Succeeded("v", now)
	th.Failed("v", "a", now)
	if lock := th.Failed("v", "a", now); lock.Voter != time.Minute {
		t.Fatalf("after a right code the series starts again at %v, got %v", time.Minute, lock.Voter)
	}
}

func TestOldWrongCodesAreForgotten(t *testing.T) {
	th := NewThrottle(ThrottleConfig{VoterFailures: 2, VoterWindow: time.Minute})
	th.Failed("v", "a", t0)
	if lock := th.Failed("v", "b", t0.Add(2*time.Minute)); lock.Voter != 0 {
		t.Fatal("a wrong code outside the window counted")
	}
}

func TestAddressBucketRefillsOneWrongCodePerPeriod(t *testing.T) {
	th := NewThrottle(ThrottleConfig{AddressBurst: 3, AddressEvery: 10 * time.Second, VoterFailures: 1000})
	for i := range 3 {
		if w := th.Wait(fmt.Sprint(i), "a", t0); w != 0 {
			t.Fatalf("wrong code %d waits %v within the burst", i, w)
		}
		th.Failed(fmt.Sprint(i), "a", t0)
	}
	if w := th.Wait("x", "a", t0); w != 10*time.Second {
		t.Fatalf("after the burst: wait %v, want 10s", w)
	}
	if w := th.Wait("x", "a", t0.Add(4*time.Second)); w != 6*time.Second {
		t.Fatalf("4 s later: wait %v, want 6s", w)
	}
	if w := th.Wait("x", "a", t0.Add(10*time.Second)); w != 0 {
		t.Fatalf("a period later: wait %v, want 0", w)
	}
	if w := th.Wait("x", "b", t0); w != 0 {
		t.Fatalf("another address waits %v", w)
	}
}

func TestIPv6AddressesCountByTheir64(t *testing.T) {
	a := AddressKey(netip.MustParseAddr("2001:db8:1:2::1"))
	b := AddressKey(netip.MustParseAddr("2001:db8:1:2:ffff::9"))
	c := AddressKey(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Fatalf("keys %q %q %q", a, b, c)
	}
	if k := AddressKey(netip.MustParseAddr("::ffff:192.0.2.1")); k != "192.0.2.1" {
		t.Fatalf("an IPv4-mapped address keys as %q", k)
	}
}

// Someone who guesses a voter's code and is locked out cannot lift the
// lockout by rotating through many other voter ids (from many addresses):
// the wrong codes of those ids push the target out of the table of wrong
// codes, not its lockout, nor its series (the next lockout still doubles).
func TestRotatingVoterIdsDoesNotFlushALockoutOrItsSeries(t *testing.T) {
	th := NewThrottle(ThrottleConfig{VoterFailures: 2, LockoutBase: time.Minute, LockoutMax: time.Hour, Entries: 8})
	th.Failed("target", "a", t0)
	if lock := th.Failed("target", "a", t0); lock.Voter != time.Minute {
		t.Fatalf("first lockout %v, want 1m", lock.Voter)
	}
	for i := range 10_000 { // one wrong code each: no lockout among them
		th.Failed(fmt.Sprintf("other-%d", i), fmt.Sprintf("addr-%d", i), t0.Add(time.Second))
	}
	if w := th.Wait("target", "fresh", t0.Add(2*time.Second)); w != time.Minute-2*time.Second {
		t.Fatalf("target waits %v after the rotation, want the rest of its lockout (58s)", w)
	}
	now := t0.Add(time.Minute)
	th.Failed("target", "b", now)
	if lock := th.Failed("target", "b", now); lock.Voter != 2*time.Minute {
		t.Fatalf("second lockout %v after the rotation, want 2m: the series was forgotten", lock.Voter)
	}
}

// When the table of lockouts is full, the series whose lockout ends first
// makes room: an id locked out until later is kept, whatever order the ids
// were last seen in.
func TestAFullLockoutTableForgetsTheSeriesThatEndsFirst(t *testing.T) {
	th := NewThrottle(ThrottleConfig{VoterFailures: 1, LockoutBase: time.Minute, LockoutMax: time.Hour, Entries: 3, AddressBurst: 1000})
	th.Failed("long", "a", t0)
	th.Failed("long", "a", t0.Add(time.Minute))       // 2m, until t0+3m
	th.Failed("short-1", "a", t0.Add(30*time.Second)) // until t0+1m30s
	th.Failed("short-2", "a", t0.Add(40*time.Second)) // until t0+1m40s
	th.Failed("new", "a", t0.Add(50*time.Second))     // full: short-1 goes
	at := t0.Add(70 * time.Second)
	for voter, want := range map[string]time.Duration{"long": 110 * time.Second, "short-1": 0, "short-2": 30 * time.Second, "new": 40 * time.Second} {
		if w := th.Wait(voter, "x", at); w != want {
			t.Errorf("%s waits %v, want %v", voter, w, want)
		}
	}
	if _, l, _, _ := th.Len(); l != 3 {
		t.Fatalf("%d series of lockouts, bound 3", l)
	}
	th.Succeeded("long", t0)
	if w := th.Wait("long", "x", at); w != 0 {
		t.Fatalf("a right code ended the series, yet long waits %v", w)
	}
}
