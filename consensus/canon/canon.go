// Package canon is the one canonical encoding of the Cocorico protocol:
// deterministic CBOR (RFC 8949 §4.2.1, core deterministic encoding) for every
// structure that is hashed or signed, with a strict decoder.
//
// The decoder refuses input a careful verifier in another language would
// refuse too: bytes after the first data item, map keys that no field names,
// duplicate map keys, indefinite lengths, tags, input larger than the caller's
// bound, and any encoding that is not the canonical one (Unmarshal re-encodes
// what it decoded and compares). Because of that last rule, a value has one
// and only one byte string, so hashing the bytes that were received is the
// same as hashing the value.
//
// canon imports only the standard library and github.com/fxamacker/cbor/v2.
package canon

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Errors returned by Unmarshal. Each wraps the decoder's detail.
var (
	// ErrTooLarge: the input is longer than the bound the caller set.
	ErrTooLarge = errors.New("canon: input too large")
	// ErrMalformed: the input is not a CBOR item of the expected shape
	// (truncated, trailing bytes, unknown or duplicate field, wrong type).
	ErrMalformed = errors.New("canon: malformed input")
	// ErrNotCanonical: the input decodes, but is not the canonical
	// encoding of what it decodes to.
	ErrNotCanonical = errors.New("canon: not the canonical encoding")
)

// MaxArray bounds the items of any array decoded: a block of 100,000
// transactions fits.
const MaxArray = 1 << 17

// Limits on the shape of any decoded item, whatever the caller's size bound.
const (
	maxNested   = 16
	maxArray    = MaxArray
	maxMapPairs = 64
)

// The modes are built once from constant options and never change.
var (
	encMode  = mustEncMode()
	decMode  = mustDecMode(strict)
	peekMode = mustDecMode(bounds())
)

func mustEncMode() cbor.UserBufferEncMode {
	eo := cbor.CoreDetEncOptions()
	m, err := eo.UserBufferEncMode()
	if err != nil {
		panic(err) // constant options: a programming error every test catches
	}
	return m
}

// bounds are the decoders' limits on any item's shape: Peek's, which
// skips the fields its target does not name.
func bounds() cbor.DecOptions {
	return cbor.DecOptions{
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  maxNested,
		MaxArrayElements: maxArray,
		MaxMapPairs:      maxMapPairs,
	}
}

// strict is Unmarshal's decoder: the bounds, and its rules on the fields.
var strict = func() cbor.DecOptions {
	o := bounds()
	o.DupMapKey = cbor.DupMapKeyEnforcedAPF
	o.ExtraReturnErrors = cbor.ExtraDecErrorUnknownField
	o.UTF8 = cbor.UTF8RejectInvalid
	return o
}()

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

// Marshal returns the canonical encoding of v.
func Marshal(v any) ([]byte, error) {
	return encMode.Marshal(v)
}

// MustMarshal is Marshal for values whose types always encode (the
// protocol's own structs); it panics only on a programming error.
func MustMarshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("canon: %T does not encode: %v", v, err))
	}
	return b
}

// Unmarshal decodes data into v, which must be a pointer, and refuses
// anything but the canonical encoding of one item no longer than max bytes.
func Unmarshal(data []byte, v any, max int) error {
	if len(data) > max {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), max)
	}
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return encodesAs(v, data)
}

// encodesAs reports ErrNotCanonical unless v's canonical encoding is data.
func encodesAs(v any, data []byte) error {
	again := againBuffers.Get().(*bytes.Buffer)
	defer func() {
		if again.Cap() <= maxPooledBuffer {
			again.Reset()
			againBuffers.Put(again)
		}
	}()
	again.Grow(len(data)) // the canonical encoding is that long: no growing
	if err := encMode.MarshalToBuffer(v, again); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !bytes.Equal(again.Bytes(), data) {
		return ErrNotCanonical
	}
	return nil
}

// Peek decodes into v the fields it names of data, at most max bytes,
// and skips the others, canonical or not: a glance at a field (a height)
// that tells whether an item is worth its checks. Nothing Peek read is to
// be trusted: what is kept is decoded again by Unmarshal.
func Peek(data []byte, v any, max int) error {
	if len(data) > max {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), max)
	}
	if err := peekMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// againBuffers hold Unmarshal's re-encodings: one is only compared, then
// reused (a transaction's re-encoding no longer allocates). Buffers
// above maxPooledBuffer (a block's) are left to the collector.
var againBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuffer = 64 << 10

// UnmarshalFirst is Unmarshal for the first item of data, which may be
// followed by other bytes: it returns them. The item is held to the same
// rules (at most max bytes, canonical, strict fields).
func UnmarshalFirst(data []byte, v any, max int) (rest []byte, err error) {
	rest, err = decMode.UnmarshalFirst(data, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	item := data[:len(data)-len(rest)]
	if len(item) > max {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(item), max)
	}
	if err := encodesAs(v, item); err != nil {
		return nil, err
	}
	return rest, nil
}

// CBOR major types whose heads ReadHead and AppendHead read and write.
const (
	MajorUint  = 0
	MajorBytes = 2
	MajorArray = 4
	MajorMap   = 5
)

// AppendHead appends the head of an item of the major type with argument
// n (a length, or a count) in its shortest form (RFC 8949 §4.2.1).
func AppendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= 0xff:
		return append(dst, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), n)
}

// ReadHead reads the head of an item of the major type at the start of
// data and returns its argument and what follows the head. ok is false
// unless the head is there whole, of that type, definite and in its
// shortest form: the only head a canonical encoding has.
func ReadHead(data []byte, major byte) (n uint64, rest []byte, ok bool) {
	if len(data) == 0 || data[0]>>5 != major {
		return 0, nil, false
	}
	info, data := data[0]&0x1f, data[1:]
	var size int
	var min uint64
	switch info {
	case 24:
		size, min = 1, 24
	case 25:
		size, min = 2, 0x100
	case 26:
		size, min = 4, 0x10000
	case 27:
		size, min = 8, 0x100000000
	default:
		if info < 24 {
			return uint64(info), data, true
		}
		return 0, nil, false // reserved, or indefinite
	}
	if len(data) < size {
		return 0, nil, false
	}
	for _, c := range data[:size] {
		n = n<<8 | uint64(c)
	}
	if n < min {
		return 0, nil, false
	}
	return n, data[size:], true
}
