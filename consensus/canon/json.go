package canon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// maxJSONNested bounds the nesting of a JSON input: the deepest protocol
// document (a wallet holding a genesis) nests six levels.
const maxJSONNested = 32

// DecodeJSON decodes data into v, which must be a pointer, and accepts it
// only if it is the one JSON form of the value it decodes to
// (docs/PROTOCOL.md §1). It is the decoder of every JSON input: API bodies,
// receipts, genesis files, wallets, config and key files. It refuses:
//
//   - input longer than max bytes (ErrTooLarge), invalid UTF-8, anything
//     after the value, nesting deeper than 32 (ErrMalformed);
//   - an object with a key twice, even spelt with other escapes
//     (encoding/json keeps the last one, other readers the first: a
//     receipt with "choice": 0, "choice": 2 would mean two things);
//   - null anywhere: an absent optional field is left out, an empty list
//     is [] (ErrMalformed);
//   - a key that names no field of v, a value of the wrong type
//     (ErrMalformed);
//   - any input whose tree differs from the tree of v encoded again by
//     encoding/json (ErrNotCanonical). This one rule catches every second
//     form of a value: base64 with non-zero pad bits or without padding,
//     uppercase hex, a key in other case ("Choice" filling `choice`), -0,
//     a time in another offset or precision, and a required field left
//     out (v's encoding has it). Trees are compared, not bytes: key order,
//     whitespace and string escapes carry no meaning.
//
// So every accepted input has exactly one meaning, and the types decoded
// must encode in that one form: a list that may be empty encodes as [],
// never null (a nil slice needs omitempty, where the protocol says
// "omitted when empty", or a MarshalJSON), an optional field carries
// omitempty. The cost is about three parses instead of one; the hot path
// (a batch of casts) then spends far more on signatures (see
// BenchmarkDecodeJSONBatch).
func DecodeJSON(data []byte, v any, max int) error {
	if len(data) > max {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), max)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: invalid UTF-8", ErrMalformed)
	}
	given, err := jsonTree(data)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	again, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var want any
	d := json.NewDecoder(bytes.NewReader(again))
	d.UseNumber()
	if err := d.Decode(&want); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !sameTree(given, want) {
		return fmt.Errorf("%w: %s", ErrNotCanonical, firstDifference("", given, want))
	}
	return nil
}

// jsonTree parses data as one JSON value into a generic tree (objects as
// map[string]any, numbers as json.Number), refusing duplicate keys, null,
// deep nesting and trailing data. It reads tokens, because a decoder into a
// map would silently keep the last of two equal keys.
func jsonTree(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := jsonValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func jsonValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return nil, errors.New("null is not a value of the protocol: leave the field out, or write [] for an empty list")
	case json.Delim:
		if depth >= maxJSONNested {
			return nil, fmt.Errorf("nested deeper than %d", maxJSONNested)
		}
		if t == '[' {
			list := []any{}
			for dec.More() {
				e, err := jsonValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, e)
			}
			_, err := dec.Token() // ']': the decoder checks the pairing
			return list, err
		}
		obj := map[string]any{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key := k.(string) // the decoder only yields strings as keys
			if _, dup := obj[key]; dup {
				return nil, fmt.Errorf("duplicate key %q", key)
			}
			if obj[key], err = jsonValue(dec, depth+1); err != nil {
				return nil, err
			}
		}
		_, err := dec.Token() // '}'
		return obj, err
	default: // string, json.Number, bool
		return t, nil
	}
}

// sameTree reports whether two generic JSON trees are equal: what
// reflect.DeepEqual says, for these few types, at a fraction of the cost.
func sameTree(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			if bv, ok := bm[k]; !ok || !sameTree(av, bv) {
				return false
			}
		}
		return true
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) {
			return false
		}
		for i := range a {
			if !sameTree(a[i], bl[i]) {
				return false
			}
		}
		return true
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case json.Number:
		bn, ok := b.(json.Number)
		return ok && a == bn
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	}
	return false
}

// firstDifference names where two trees first differ, for the error.
func firstDifference(at string, a, b any) string {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			break
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok {
				return fmt.Sprintf("%s.%s: not the name of a field in this form", at, k)
			}
			if !sameTree(av, bv) {
				return firstDifference(at+"."+k, av, bv)
			}
		}
		for k := range bm {
			if _, ok := a[k]; !ok {
				return fmt.Sprintf("%s.%s: missing", at, k)
			}
		}
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) {
			break
		}
		for i := range a {
			if !sameTree(a[i], bl[i]) {
				return firstDifference(fmt.Sprintf("%s[%d]", at, i), a[i], bl[i])
			}
		}
	}
	if at == "" {
		at = "."
	}
	return fmt.Sprintf("%s: %s is written %s", at, short(a), short(b))
}

func short(v any) string {
	s := fmt.Sprintf("%v", v)
	if b, err := json.Marshal(v); err == nil {
		s = string(b)
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}
