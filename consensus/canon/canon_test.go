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

// AppendHead writes the heads the encoder writes, and ReadHead reads them
// back, at every length where the head's form changes; ReadHead refuses a
// head longer than it needs, of another type, cut short or indefinite.
func TestHeadsAreTheEncodersAndOnlyTheShortestReadBack(t *testing.T) {
	for _, n := range []uint64{0, 23, 24, 255, 256, 65535, 65536, 1 << 32} {
		if n <= 1<<20 {
			enc := MustMarshal(make([]byte, n))
			if head := AppendHead(nil, MajorBytes, n); string(enc[:len(head)]) != string(head) || len(enc) != len(head)+int(n) {
				t.Fatalf("%d bytes: head % x, the encoder's % x", n, head, enc[:min(len(enc), 9)])
			}
		}
		for _, major := range []byte{MajorBytes, MajorArray} {
			head := AppendHead(nil, major, n)
			got, rest, ok := ReadHead(append(head, 0xee), major)
			if !ok || got != n || len(rest) != 1 {
				t.Fatalf("head % x read as %d, %v", head, got, ok)
			}
			if _, _, ok := ReadHead(head, major^1); ok {
				t.Fatalf("head % x read as another type", head)
			}
			if _, _, ok := ReadHead(head[:len(head)-1], major); ok {
				t.Fatalf("head % x cut short read", head)
			}
		}
	}
	for _, head := range [][]byte{{0x58, 0x17}, {0x59, 0x00, 0xff}, {0x5a, 0x00, 0x00, 0xff, 0xff}, {0x5b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, {0x5f}, {0x5c}} {
		if _, _, ok := ReadHead(head, MajorBytes); ok {
			t.Fatalf("head % x read: not the shortest, or indefinite, or reserved", head)
		}
	}
}

// UnmarshalFirst holds the first item to Unmarshal's rules and gives back
// what follows it.
func TestUnmarshalFirstDecodesTheFirstItemStrictlyAndReturnsTheRest(t *testing.T) {
	item := MustMarshal(&sample{A: 7, B: []byte{1}})
	var s sample
	rest, err := UnmarshalFirst(append(item, 0x01, 0x02), &s, 64)
	if err != nil || s.A != 7 || string(rest) != "\x01\x02" {
		t.Fatalf("%+v, rest % x, %v", s, rest, err)
	}
	if _, err := UnmarshalFirst(append(item, 0x01), &s, len(item)-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("an item over the bound: %v", err)
	}
	long := []byte{0xa2, 0x01, 0x18, 0x07, 0x02, 0x41, 0x01} // A's 7 in two bytes
	if _, err := UnmarshalFirst(append(long, 0x00), &s, 64); !errors.Is(err, ErrNotCanonical) {
		t.Fatalf("a non-canonical item: %v", err)
	}
}
