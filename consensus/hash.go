package consensus

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
)

// HashSize is the size of every hash of the protocol (SHA-256).
const HashSize = sha256.Size

// Hash is a SHA-256 digest. In JSON it is lowercase hex; in CBOR a 32-byte
// byte string. The zero Hash stands for "none" (a nil vote, no parent).
type Hash [HashSize]byte

var (
	_ fmt.Stringer             = Hash{}
	_ encoding.TextMarshaler   = Hash{}
	_ encoding.TextUnmarshaler = (*Hash)(nil)
)

// Sum returns the SHA-256 of the concatenation of parts.
func Sum(parts ...[]byte) Hash {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// IsZero reports whether h is the zero hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// String returns h as lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Short returns the first 8 hex digits of h, for logs.
func (h Hash) Short() string { return hex.EncodeToString(h[:4]) }

// MarshalText encodes h as lowercase hex.
func (h Hash) MarshalText() ([]byte, error) {
	out := make([]byte, 2*HashSize)
	hex.Encode(out, h[:])
	return out, nil
}

// UnmarshalText decodes exactly 64 lowercase hex digits: a hash has one
// written form (docs/PROTOCOL.md §1), so uppercase is refused.
func (h *Hash) UnmarshalText(text []byte) error {
	if len(text) != 2*HashSize {
		return fmt.Errorf("hash: want %d hex digits, got %d", 2*HashSize, len(text))
	}
	for _, c := range text {
		if 'A' <= c && c <= 'F' {
			return fmt.Errorf("hash: uppercase hex digit %q: write hashes in lowercase", c)
		}
	}
	if _, err := hex.Decode(h[:], text); err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	return nil
}

// ParseHash parses 64 lowercase hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	err := h.UnmarshalText([]byte(s))
	return h, err
}
