package canon

import (
	"errors"
	"testing"
)

type sample struct {
	A uint64 `cbor:"1,keyasint"`
	B []byte `cbor:"2,keyasint"`
	C string `cbor:"3,keyasint,omitempty"`
}

func TestRoundTripOfCanonicalBytes(t *testing.T) {
	data := MustMarshal(sample{A: 7, B: []byte{1, 2}})
	var s sample
	if err := Unmarshal(data, &s, 100); err != nil {
		t.Fatal(err)
	}
	if s.A != 7 || len(s.B) != 2 {
		t.Fatalf("decoded %+v", s)
	}
}

func TestStrictDecoderRejects(t *testing.T) {
	good := MustMarshal(sample{A: 7, B: []byte{1}}) // a2 01 07 02 41 01
	cases := map[string]struct {
		data []byte
		want error
	}{
		"trailing bytes":       {append(append([]byte(nil), good...), 0x00), ErrMalformed},
		"truncated":            {good[:len(good)-1], ErrMalformed},
		"unknown field":        {[]byte{0xa3, 0x01, 0x07, 0x02, 0x41, 0x01, 0x09, 0x00}, ErrMalformed},
		"duplicate key":        {[]byte{0xa3, 0x01, 0x07, 0x02, 0x41, 0x01, 0x01, 0x08}, ErrMalformed},
		"indefinite length":    {[]byte{0xbf, 0x01, 0x07, 0x02, 0x41, 0x01, 0xff}, ErrMalformed},
		"keys out of order":    {[]byte{0xa2, 0x02, 0x41, 0x01, 0x01, 0x07}, ErrNotCanonical},
		"non-minimal integer":  {[]byte{0xa2, 0x01, 0x18, 0x07, 0x02, 0x41, 0x01}, ErrNotCanonical},
		"empty omitted field":  {[]byte{0xa3, 0x01, 0x07, 0x02, 0x41, 0x01, 0x03, 0x60}, ErrNotCanonical},
		"tag":                  {[]byte{0xc1, 0x00}, ErrMalformed},
		"wrong type":           {[]byte{0xa1, 0x01, 0x61, 0x41}, ErrMalformed},
		"too large":            {make([]byte, 101), ErrTooLarge},
		"invalid utf-8 string": {[]byte{0xa3, 0x01, 0x07, 0x02, 0x41, 0x01, 0x03, 0x61, 0xff}, ErrMalformed},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var s sample
			if err := Unmarshal(c.data, &s, 100); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// Peek reads the fields its target names whatever else the item holds and
// however it is encoded, but keeps the strict decoder's bounds: the size,
// one item, no indefinite length, no tag.
func TestPeekReadsTheFieldsItNamesAndKeepsTheBounds(t *testing.T) {
	var a struct {
		A uint64 `cbor:"1,keyasint"`
	}
	for name, data := range map[string][]byte{
		"unknown field":       {0xa3, 0x01, 0x07, 0x02, 0x41, 0x01, 0x09, 0x00},
		"keys out of order":   {0xa2, 0x02, 0x41, 0x01, 0x01, 0x07},
		"non-minimal integer": {0xa2, 0x01, 0x18, 0x07, 0x02, 0x41, 0x01},
	} {
		a.A = 0
		if err := Peek(data, &a, 100); err != nil || a.A != 7 {
			t.Fatalf("%s: peeked %d, %v; want 7", name, a.A, err)
		}
	}
	good := MustMarshal(sample{A: 7, B: []byte{1}})
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"trailing bytes":    {append(append([]byte(nil), good...), 0x00), ErrMalformed},
		"truncated":         {good[:len(good)-1], ErrMalformed},
		"indefinite length": {[]byte{0xbf, 0x01, 0x07, 0x02, 0x41, 0x01, 0xff}, ErrMalformed},
		"tag":               {[]byte{0xc1, 0x00}, ErrMalformed},
		"too large":         {make([]byte, 101), ErrTooLarge},
	} {
		if err := Peek(c.data, &a, 100); !errors.Is(err, c.want) {
			t.Fatalf("%s: got %v, want %v", name, err, c.want)
		}
	}
}
