package canon

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

type jsonSample struct {
	Choice uint32    `json:"choice"`
	Key    []byte    `json:"key"`
	Labels []string  `json:"labels"`
	Note   string    `json:"note,omitempty"`
	When   time.Time `json:"when"`
	Depth  int64     `json:"depth"`
}

const goodSample = `{"choice":2,"key":"AQI=","labels":["a"],"when":"2026-01-01T00:00:00.5Z","depth":-3}`

func TestDecodeJSONAcceptsTheOneForm(t *testing.T) {
	for _, in := range []string{
		goodSample,
		// Key order, whitespace and string escapes carry no meaning.
		" {\n\"depth\": -3, \"labels\" : [\"\\u0061\"], \"key\":\"AQI=\",\"choice\":2,\"when\":\"2026-01-01T00:00:00.5Z\"}\n",
		`{"choice":2,"key":"AQI=","labels":[],"note":"x","when":"2026-01-01T00:00:00Z","depth":0}`,
	} {
		var s jsonSample
		if err := DecodeJSON([]byte(in), &s, 1000); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func TestDecodeJSONRefusesEverySecondForm(t *testing.T) {
	swap := func(old, new string) string { return strings.Replace(goodSample, old, new, 1) }
	cases := map[string]struct {
		in   string
		want error
	}{
		"duplicate key":             {swap(`"choice":2`, `"choice":0,"choice":2`), ErrMalformed},
		"duplicate key, escaped":    {swap(`"choice":2`, `"choice":0,"ch\u006fice":2`), ErrMalformed},
		"null":                      {swap(`"labels":["a"]`, `"labels":null`), ErrMalformed},
		"null in a list":            {swap(`["a"]`, `["a",null]`), ErrMalformed},
		"trailing value":            {goodSample + ` {}`, ErrMalformed},
		"trailing garbage":          {goodSample + `]`, ErrMalformed},
		"unknown field":             {swap(`"depth":-3`, `"depth":-3,"extra":1`), ErrMalformed},
		"invalid UTF-8":             {swap(`["a"]`, "[\"\xff\"]"), ErrMalformed},
		"string for a number":       {swap(`"choice":2`, `"choice":"2"`), ErrMalformed},
		"fraction":                  {swap(`"choice":2`, `"choice":2.0`), ErrMalformed},
		"exponent":                  {swap(`"choice":2`, `"choice":2e0`), ErrMalformed},
		"minus zero":                {swap(`"depth":-3`, `"depth":-0`), ErrNotCanonical},
		"case-folded key":           {swap(`"choice"`, `"Choice"`), ErrNotCanonical},
		"base64 pad bits":           {swap(`"AQI="`, `"AQJ="`), ErrNotCanonical},
		"base64 without padding":    {swap(`"AQI="`, `"AQI"`), ErrMalformed},
		"base64 with a newline":     {swap(`"AQI="`, `"AQ\nI="`), ErrNotCanonical},
		"required field missing":    {swap(`,"depth":-3`, ``), ErrNotCanonical},
		"required bytes missing":    {swap(`"key":"AQI=",`, ``), ErrNotCanonical},
		"required list missing":     {swap(`"labels":["a"],`, ``), ErrNotCanonical},
		"empty optional field":      {swap(`"depth":-3`, `"depth":-3,"note":""`), ErrNotCanonical},
		"time with an offset":       {swap(`00.5Z`, `00.5+00:00`), ErrNotCanonical},
		"time with a trailing zero": {swap(`00.5Z`, `00.50Z`), ErrNotCanonical},
		"too large":                 {goodSample + strings.Repeat(" ", 1000), ErrTooLarge},
		"nested too deep":           {strings.Repeat("[", 40) + strings.Repeat("]", 40), ErrMalformed},
		"truncated":                 {goodSample[:20], ErrMalformed},
		"empty":                     {``, ErrMalformed},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var s jsonSample
			err := DecodeJSON([]byte(c.in), &s, 1000)
			if !errors.Is(err, c.want) {
				t.Fatalf("%s: got %v, want %v", c.in, err, c.want)
			}
		})
	}
}

// A field left out is named as missing, whatever its type: a list or
// bytes left out re-encode as null, which is not what the sender wrote.
func TestAMissingFieldIsNamedAsMissing(t *testing.T) {
	for field, in := range map[string]string{
		"key":    strings.Replace(goodSample, `"key":"AQI=",`, ``, 1),
		"labels": strings.Replace(goodSample, `"labels":["a"],`, ``, 1),
		"depth":  strings.Replace(goodSample, `,"depth":-3`, ``, 1),
	} {
		var s jsonSample
		err := DecodeJSON([]byte(in), &s, 1000)
		if err == nil || !strings.Contains(err.Error(), "."+field+": missing") || strings.Contains(err.Error(), "null") {
			t.Errorf("%s left out: %v, want it named as missing", field, err)
		}
	}
}

// TestNonCanonicalBase64IsRefused: encoding/json alone decodes "AQJ=" and
// "AQI=" to the same two bytes 01 02 (it ignores the two pad bits); only
// the second is the encoding of those bytes.
func TestNonCanonicalBase64IsRefused(t *testing.T) {
	for _, in := range []string{`{"b":"AQJ="}`, `{"b":"AQL="}`, `{"b":"AR=="}`, `{"b":"AQ\r\nI="}`} {
		var v struct {
			B []byte `json:"b"`
		}
		if err := DecodeJSON([]byte(in), &v, 100); !errors.Is(err, ErrNotCanonical) {
			t.Errorf("%s: got %v, want ErrNotCanonical", in, err)
		}
	}
}

// TestCaseFoldedKeysAreRefused: encoding/json fills `choice` from
// "Choice" or "CHOICE"; a key is accepted only as the field's own name.
func TestCaseFoldedKeysAreRefused(t *testing.T) {
	for _, in := range []string{`{"Choice":1}`, `{"CHOICE":1}`, `{"choice":1,"Choice":2}`} {
		var v struct {
			Choice uint32 `json:"choice"`
		}
		if err := DecodeJSON([]byte(in), &v, 100); err == nil {
			t.Errorf("%s: accepted as choice %d", in, v.Choice)
		}
	}
}

// A document of many tiny values is refused before its tree takes more
// than a few times its length in memory (4 MB of `{"a":1}` objects took
// 430 MB), and the documents of the protocol, one to three times their
// length, are read.
func TestADocumentWhoseTreeOutgrowsItsLengthIsRefusedWithinItsRoom(t *testing.T) {
	type batch struct {
		Casts []jsonSample `json:"casts"`
	}
	for name, body := range map[string][]byte{
		"objects": []byte(`{"casts":[` + strings.Repeat(`{"a":1},`, 500_000) + `{"a":1}]}`),
		"lists":   []byte(`{"casts":[` + strings.Repeat(`[],`, 1_000_000) + `[]]}`),
		"numbers": []byte(`{"casts":[` + strings.Repeat(`1,`, 2_000_000) + `1]}`),
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var b batch
		err := DecodeJSON(body, &b, len(body))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "times its length in memory") {
			t.Errorf("%s: %v", name, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(2*(jsonTreeRoom*len(body)+jsonTreeSlack)) {
			t.Errorf("%s: refusing %d bytes allocated %d", name, len(body), grew)
		}
	}
	for _, f := range []string{"genesis.json", "receipt.json", "vectors.json", "sealed.json"} {
		data, err := os.ReadFile("../../docs/vectors/" + f)
		if err != nil {
			t.Fatal(err)
		}
		p := &treeParser{data: data, room: jsonTreeRoom * len(data)} // no slack: the ratio alone
		if _, err := p.tree(); err != nil {
			t.Errorf("docs/vectors/%s needs more than %d times its length: %v", f, jsonTreeRoom, err)
		}
	}
}
