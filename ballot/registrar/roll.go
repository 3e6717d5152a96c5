package registrar

import (
	"crypto/subtle"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/cocorico/node/consensus/canon"
)

// HashParams are the Argon2id parameters of code hashes (RFC 9106).
type HashParams struct {
	Time    uint32 `cbor:"1,keyasint" json:"time"`
	MemKiB  uint32 `cbor:"2,keyasint" json:"mem_kib"`
	Threads uint8  `cbor:"3,keyasint" json:"threads"`
}

// DefaultHashParams follow RFC 9106 §4's second recommended option scaled
// to a small registrar: 2 passes over 19 MiB (OWASP's minimum for Argon2id).
var DefaultHashParams = HashParams{Time: 2, MemKiB: 19 * 1024, Threads: 1}

// DemoHashParams are cheap parameters for the devnet's demo roll and for
// benchmarks: codes there are public anyway.
var DemoHashParams = HashParams{Time: 1, MemKiB: 64, Threads: 1}

// CodeHash is how a voter's code is kept: salted Argon2id, never the code.
type CodeHash struct {
	Params HashParams `cbor:"1,keyasint"`
	Salt   []byte     `cbor:"2,keyasint"`
	Hash   []byte     `cbor:"3,keyasint"`
}

// HashCode hashes code with a fresh 16-byte salt from rng.
func HashCode(rng io.Reader, code string, p HashParams) (CodeHash, error) {
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rng, salt); err != nil {
		return CodeHash{}, err
	}
	return CodeHash{Params: p, Salt: salt, Hash: argon2.IDKey([]byte(code), salt, p.Time, p.MemKiB, p.Threads, 32)}, nil
}

// Matches reports whether code is the hashed code, in constant time.
func (h CodeHash) Matches(code string) bool {
	p := h.Params
	got := argon2.IDKey([]byte(code), h.Salt, p.Time, p.MemKiB, p.Threads, uint32(len(h.Hash)))
	return subtle.ConstantTimeCompare(got, h.Hash) == 1
}

// Encode returns the canonical bytes of h, for storage.
func (h CodeHash) Encode() []byte { return canon.MustMarshal(h) }

// DecodeCodeHash reads a stored code hash.
func DecodeCodeHash(data []byte) (CodeHash, error) {
	var h CodeHash
	err := canon.Unmarshal(data, &h, 256)
	return h, err
}

// RollEntry is one line of a voter roll.
type RollEntry struct {
	VoterID string
	Code    string
}

// Limits of a roll line.
const (
	MaxVoterIDBytes = 128
	MaxCodeBytes    = 128
)

// ParseRoll reads a CSV voter roll: one `voter_id,code` per line, an
// optional header line `voter_id,code`, no duplicate voter ids.
func ParseRoll(r io.Reader) ([]RollEntry, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var out []RollEntry
	seen := map[string]bool{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRollInvalid, err)
		}
		id, code := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if line == 1 && id == "voter_id" && code == "code" {
			continue
		}
		if err := CheckVoterID(id); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrRollInvalid, line, err)
		}
		if code == "" || len(code) > MaxCodeBytes {
			return nil, fmt.Errorf("%w: line %d: code must have 1 to %d bytes", ErrRollInvalid, line, MaxCodeBytes)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: line %d: voter %q twice", ErrRollInvalid, line, id)
		}
		seen[id] = true
		out = append(out, RollEntry{VoterID: id, Code: code})
	}
	return out, nil
}

// CheckVoterID checks a voter id's form.
func CheckVoterID(id string) error {
	if id == "" || len(id) > MaxVoterIDBytes || !utf8.ValidString(id) {
		return fmt.Errorf("voter id must be 1 to %d bytes of UTF-8", MaxVoterIDBytes)
	}
	if strings.HasPrefix(id, subjectPrefix) {
		return fmt.Errorf("voter id may not start with %q (kept for logins)", subjectPrefix)
	}
	return nil
}

// NewDecoy returns a code hash of a random code, with params: the hash an
// unknown voter id is checked against, so that it costs the same slow
// hash as a known one and answers the same (ErrNotAuthorized).
func NewDecoy(rng io.Reader, p HashParams) (CodeHash, error) {
	code := make([]byte, 32)
	if _, err := io.ReadFull(rng, code); err != nil {
		return CodeHash{}, err
	}
	return HashCode(rng, string(code), p)
}

// Authorize checks code against the voter's code hash, or against decoy
// when the voter is not on the roll (stored nil): the same slow hash runs
// either way and both refusals are the one ErrNotAuthorized.
func Authorize(stored *CodeHash, decoy CodeHash, code string) error {
	h, known := decoy, false
	if stored != nil {
		h, known = *stored, true
	}
	if !h.Matches(code) || !known {
		return ErrNotAuthorized
	}
	return nil
}
