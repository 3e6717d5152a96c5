package canon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// maxJSONNested bounds the nesting of a JSON input: the deepest protocol
// document (a wallet holding a genesis) nests six levels.
const maxJSONNested = 32

// The memory a JSON input's tree may take, as the tree parser estimates
// it while it reads (maps, their entries, list slots, strings and numbers
// at about their Go sizes): jsonTreeRoom times the input's length, plus
// jsonTreeSlack. The documents of docs/vectors take 1.2 to 5.2 times
// their length (long strings weigh little, small objects much: a
// genesis's validators and parameters, up to 9 times when compact); 4 MB of `{"a":1}` objects in a list took 430 MB
// before it was bounded (a hostile probe's body to POST /v1/casts/batch),
// and is now refused once its estimate passes 24 MB.
const (
	jsonTreeRoom  = 6
	jsonTreeSlack = 1 << 20 // a compact genesis of 256 organizers and 100 validators: ~220 KB
)

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
// omitempty. The cost is about 1.8 times encoding/json's alone (a one-pass
// scanner builds the trees); a batch of casts spends ten times more on its
// signatures (BenchmarkDecodeCastBatchJSON in package ballot).
func DecodeJSON(data []byte, v any, max int) error {
	if len(data) > max {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), max)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: invalid UTF-8", ErrMalformed)
	}
	given, err := (&treeParser{data: data, room: jsonTreeRoom*len(data) + jsonTreeSlack}).tree()
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
	// A required field the data left out is written null: read as
	// such, it is then named as missing rather than as a null.
	want, err := (&treeParser{data: again, nulls: true, room: math.MaxInt}).tree()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !sameTree(given, want) {
		return fmt.Errorf("%w: %s", ErrNotCanonical, firstDifference("", given, want))
	}
	return nil
}

// A treeParser parses data as one JSON value into a generic tree
// (objects as map[string]any, numbers as json.Number holding their
// literal), refusing duplicate keys, null, deep nesting, trailing data
// and a tree beyond its room. It is a small one-pass scanner: a decoder
// into a map would silently keep the last of two equal keys, and
// json.Decoder's token stream costs several times more. The syntax it
// accepts is checked again by encoding/json when v is decoded from the
// same bytes.

func (p *treeParser) tree() (any, error) {
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.data) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

type treeParser struct {
	data []byte
	i    int
	// room is what the tree may still take in memory, estimated as it
	// grows (spend)
	room int
	// nulls: a null is read as jsonNull (in JSON re-encoded from a
	// value, for the error naming the missing field), not refused
	nulls bool
}

// jsonNull is a null read by a treeParser that takes them.
type jsonNull struct{}

func (p *treeParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// spend takes n bytes of the tree's room, or says it is spent.
func (p *treeParser) spend(n int) error {
	if p.room -= n; p.room < 0 {
		return fmt.Errorf("at byte %d: its values would take more than %d times its length in memory", p.i, jsonTreeRoom)
	}
	return nil
}

func (p *treeParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *treeParser) value(depth int) (any, error) {
	p.space()
	if p.i >= len(p.data) {
		return nil, io.ErrUnexpectedEOF
	}
	switch c := p.data[p.i]; {
	case c == '{' || c == '[':
		if depth >= maxJSONNested {
			return nil, fmt.Errorf("nested deeper than %d", maxJSONNested)
		}
		if c == '[' {
			return p.list(depth)
		}
		return p.object(depth)
	case c == '"':
		s, err := p.str()
		if err == nil {
			err = p.spend(32 + len(s)) // boxed: its header and its bytes
		}
		return s, err
	case c == 't' && bytes.HasPrefix(p.data[p.i:], []byte("true")):
		p.i += 4
		return true, nil
	case c == 'f' && bytes.HasPrefix(p.data[p.i:], []byte("false")):
		p.i += 5
		return false, nil
	case c == 'n' && bytes.HasPrefix(p.data[p.i:], []byte("null")) && p.nulls:
		p.i += 4
		return jsonNull{}, nil
	case c == 'n' && bytes.HasPrefix(p.data[p.i:], []byte("null")):
		return nil, errors.New("null is not a value of the protocol: leave the field out, or write [] for an empty list")
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		for p.i < len(p.data) && strings.IndexByte("+-0123456789.eE", p.data[p.i]) >= 0 {
			p.i++
		}
		if err := p.spend(32 + p.i - start); err != nil {
			return nil, err
		}
		return json.Number(p.data[start:p.i]), nil
	}
	return nil, p.errorf("unexpected %q", p.data[p.i])
}

func (p *treeParser) list(depth int) (any, error) {
	p.i++ // [
	// the slice's header
	if err := p.spend(24); err != nil {
		return nil, err
	}
	list := []any{}
	p.space()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		return list, nil
	}
	for {
		e, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := p.spend(32); err != nil { // its slot, as the list grows by doubling
			return nil, err
		}
		list = append(list, e)
		if done, err := p.after(']'); done || err != nil {
			return list, err
		}
	}
}

// after reads what follows a member of a list or an object: a comma (more
// to come) or the closing bracket (done).
func (p *treeParser) after(closing byte) (done bool, err error) {
	p.space()
	if p.i >= len(p.data) {
		return false, io.ErrUnexpectedEOF
	}
	switch p.data[p.i] {
	case ',':
		p.i++
		return false, nil
	case closing:
		p.i++
		return true, nil
	}
	return false, p.errorf("want , or %c", closing)
}

func (p *treeParser) object(depth int) (any, error) {
	p.i++                                // {
	if err := p.spend(320); err != nil { // a map of up to 8 entries (one group of slots)
		return nil, err
	}
	obj := map[string]any{}
	p.space()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return obj, nil
	}
	for {
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return nil, p.errorf("want a key")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		if err := p.spend(48 + len(key)); err != nil { // its entry in the map
			return nil, err
		}
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return nil, p.errorf("want : after a key")
		}
		p.i++
		if obj[key], err = p.value(depth + 1); err != nil {
			return nil, err
		}
		if done, err := p.after('}'); done || err != nil {
			return obj, err
		}
	}
}

// str reads a string at p.i and returns its value: the bytes themselves
// when it has no escape (the common case), else what encoding/json makes
// of it, so that two spellings of one key are one key.
func (p *treeParser) str() (string, error) {
	start := p.i
	p.i++ // "
	escaped := false
	for p.i < len(p.data) {
		switch c := p.data[p.i]; {
		case c == '"':
			p.i++
			raw := p.data[start:p.i]
			if !escaped {
				return string(raw[1 : len(raw)-1]), nil
			}
			var out string
			if err := json.Unmarshal(raw, &out); err != nil {
				return "", err
			}
			return out, nil
		case c == '\\':
			escaped = true
			p.i += 2
		case c < 0x20:
			return "", p.errorf("control character in a string")
		default:
			p.i++
		}
	}
	return "", io.ErrUnexpectedEOF
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
