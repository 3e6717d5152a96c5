package registrar

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMinimumAgeIsReachedOnTheBirthday(t *testing.T) {
	e := Eligibility{MinAge: 18}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for birthdate, ok := range map[string]bool{
		"2008-12-01": true,  // 18 today
		"2008-12-02": false, // 18 tomorrow
		"2008-11-30": true,
		"1950-01-01": true,
		"2008-12":    false, // not a full date: the rule cannot be decided
		"0000-05-01": false,
		"":           false,
	} {
		err := e.Check(Claims{Birthdate: birthdate}, now)
		if ok != (err == nil) || (err != nil && !errors.Is(err, ErrNotEligible)) {
			t.Errorf("born %q: %v", birthdate, err)
		}
		if err != nil && birthdate != "" && strings.Contains(err.Error(), birthdate) {
			t.Errorf("the refusal names the claim: %v", err)
		}
	}
}

func TestPlaceRulesAreListsOfAllowedValues(t *testing.T) {
	e := Eligibility{Birthplaces: []string{"75056"}, PostalCodes: []string{"75001", "75002"}}
	if err := e.Check(Claims{Birthplace: "75056", PostalCode: "75002"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Claims{{Birthplace: "69123", PostalCode: "75002"}, {Birthplace: "75056", PostalCode: "69001"}, {}} {
		if err := e.Check(c, time.Now()); !errors.Is(err, ErrNotEligible) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if (Eligibility{}).NeedsClaims() || !e.NeedsClaims() {
		t.Fatal("NeedsClaims")
	}
}

func TestSubjectHashIsKeyedAndPerIssuer(t *testing.T) {
	k1, k2 := SubjectKey(strings.Repeat("a", 32)), SubjectKey(strings.Repeat("b", 32))
	h := k1.Hash("https://idp.example", "sub-1")
	for _, other := range []struct {
		k        SubjectKey
		iss, sub string
	}{
		{k2, "https://idp.example", "sub-1"},
		{k1, "https://other.example", "sub-1"},
		{k1, "https://idp.example", "sub-2"},
		{k1, "https://idp.examplesub-", "1"}, // the issuer's length is in the hash
	} {
		if other.k.Hash(other.iss, other.sub) == h {
			t.Errorf("%+v hashes as (k1, idp, sub-1)", other)
		}
	}
	if v := SubjectVoter(h); CheckVoterID(v) == nil {
		t.Fatalf("a roll could hold the voter key of a subject: %s", v)
	}
}

func TestOneTimeEntriesAreTakenOnceAndExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	tab := NewOneTime[int](2)
	tab.Put("a", 1, now.Add(time.Minute))
	if v, ok := tab.Take("a", now); !ok || v != 1 {
		t.Fatal("first take")
	}
	if _, ok := tab.Take("a", now); ok {
		t.Fatal("taken twice")
	}
	tab.Put("b", 2, now.Add(time.Minute))
	if _, ok := tab.Take("b", now.Add(time.Minute)); ok {
		t.Fatal("an expired entry was given out")
	}
	for i, k := range []string{"c", "d", "e"} {
		tab.Put(k, i, now.Add(time.Minute))
	}
	if _, ok := tab.Take("c", now); ok || tab.Len() != 2 {
		t.Fatalf("the table grew past its bound (%d) or kept the oldest entry", tab.Len())
	}
}

// PutNew adds a key once until it expires, then again (a spent login
// state is refused until its own expiry, then forgotten).
func TestOneTimePutNewRefusesALiveKeyAndTakesAnExpiredOne(t *testing.T) {
	now := time.Unix(1000, 0)
	tab := NewOneTime[struct{}](4)
	if !tab.PutNew("s", struct{}{}, now.Add(time.Minute), now) {
		t.Fatal("a new key was refused")
	}
	if tab.PutNew("s", struct{}{}, now.Add(time.Minute), now.Add(time.Minute-time.Millisecond)) {
		t.Fatal("a live key was added twice")
	}
	if !tab.PutNew("s", struct{}{}, now.Add(2*time.Minute), now.Add(time.Minute)) || tab.Len() != 1 {
		t.Fatalf("an expired key was not replaced (%d entries)", tab.Len())
	}
}

// A return URL on an allowed origin is a page's, its session in the
// fragment, even when that origin is on loopback (a devnet's node); a
// loopback URL of no allowed origin is the command line's, the session in
// the query (RFC 8252 §7.3).
func TestAllowedLoopbackOriginIsAPageNotTheCommandLine(t *testing.T) {
	allowed := []string{"http://127.0.0.1:8080"}
	for raw, loopback := range map[string]bool{
		"http://127.0.0.1:8080/vote/ab?lang=fr": false,
		"http://127.0.0.1:45123/callback":       true,
	} {
		r, err := CheckReturnURL(raw, allowed)
		if err != nil || r.Loopback != loopback || r.URL != raw {
			t.Errorf("%s: %+v, %v; want loopback %v", raw, r, err, loopback)
		}
	}
}
