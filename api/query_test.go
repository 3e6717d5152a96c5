package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// If-None-Match is read as RFC 9110 says: a list of entity tags compared
// weakly (W/ aside), or "*"; the results page's poll gets its 304 however
// a cache or proxy rewrote the header.
func TestIfNoneMatchMatchesAListAWeakTagAndStarButNotAnotherTag(t *testing.T) {
	const etag = `"7-0-2-open-json"`
	for h, want := range map[string]bool{
		etag:                         true,
		`W/` + etag:                  true,
		`"x", ` + etag:               true,
		`"x",W/` + etag + `, "y"`:    true,
		"*":                          true,
		"":                           false,
		`"x"`:                        false,
		`"7-0-2-open-json`:           false,
		`"7-0-2-open-csv"`:           false,
		`W/"7-0-2-open-csv", "open"`: false,
	} {
		if got := etagMatch(h, etag); got != want {
			t.Errorf("If-None-Match %q against %s: %v, want %v", h, etag, got, want)
		}
	}
}

// ?before= and ?limit= take unsigned decimals only: no sign, no blank, no
// other base; a before past any index means from the newest (not a
// refusal), and an error message quotes at most 64 bytes of the value.
func TestPageQueryTakesDigitsOnlyAndABeforePastTheEndMeansFromTheNewest(t *testing.T) {
	for q, want := range map[string][2]int{
		"":                             {-1, DefaultPageSize},
		"?limit=7":                     {-1, 7},
		"?before=0&limit=200":          {0, 200},
		"?before=18446744073709551615": {int(^uint(0) >> 1), DefaultPageSize},
		"?before=012":                  {12, DefaultPageSize},
	} {
		before, limit, err := pageQuery(httptest.NewRequest("GET", "/v1/ballots"+q, nil))
		if err != nil || before != want[0] || limit != want[1] {
			t.Errorf("%q: before %d limit %d (%v), want %d and %d", q, before, limit, err, want[0], want[1])
		}
	}
	for _, q := range []string{"?limit=+1", "?limit=-1", "?limit=0", "?limit=201", "?limit=%201", "?limit=0x10", "?limit=1e2",
		"?before=-1", "?before=+3", "?before=18446744073709551616", "?before=" + strings.Repeat("9", 5000)} {
		_, _, err := pageQuery(httptest.NewRequest("GET", "/v1/ballots"+q, nil))
		if err == nil {
			t.Errorf("%q: accepted", q)
		} else if len(err.Error()) > 200 {
			t.Errorf("%q: the error quotes the whole value (%d bytes)", q, len(err.Error()))
		}
	}
}

// A path that is an endpoint for other methods answers 405 with Allow and
// the JSON error method_not_allowed; an unknown path stays 404, and so
// does an unknown asset asked with the right method.
func TestAnEndpointAskedWithAnotherMethodIs405WithAllow(t *testing.T) {
	srv := httptest.NewServer(New(Config{State: &slowState{}}).Handler())
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		status       int
		allow, code  string
	}{
		{"DELETE", "/v1/casts", 405, "POST", "method_not_allowed"},
		{"GET", "/v1/casts", 405, "POST", "method_not_allowed"},
		{"GET", "/v1/casts/batch", 405, "POST", "method_not_allowed"}, // not a cast id
		{"POST", "/v1/status", 405, "GET, HEAD", "method_not_allowed"},
		{"PUT", "/v1/ballots", 405, "GET, HEAD, POST", "method_not_allowed"},
		{"GET", "/v1/nothing", 404, "", "not_found"},
		{"GET", "/assets/cocorico.0000000000000000.wasm", 404, "", "not_found"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e ErrorBody
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || e.Error.Code != c.code {
			t.Errorf("%s %s: %d Allow %q %q, want %d Allow %q %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), e.Error.Code,
				c.status, c.allow, c.code)
		}
	}
}

// A body that does not arrive within the read timeout is 408
// body_timeout, and the message names no address of the connection.
func TestABodyThatDoesNotArriveInTimeIs408AndTheMessageNamesNoAddress(t *testing.T) {
	ts := httptest.NewUnstartedServer(New(Config{State: &slowState{}, Backend: &refusingBackend{}}).Handler())
	ts.Config.ReadTimeout = 300 * time.Millisecond
	ts.Start()
	defer ts.Close()
	_, resp, e := announceCast(t, ts, 100, "{")
	if resp.StatusCode != http.StatusRequestTimeout || e.Error.Code != "body_timeout" || strings.Contains(e.Error.Message, "127.0.0.1") {
		t.Fatalf("%d %q %q, want 408 body_timeout naming no address", resp.StatusCode, e.Error.Code, e.Error.Message)
	}
}
