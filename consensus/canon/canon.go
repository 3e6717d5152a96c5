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

// Limits on the shape of any decoded item, whatever the caller's size bound.
const (
	maxNested   = 16
	maxArray    = 1 << 17 // a block of 100,000 transactions fits
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
