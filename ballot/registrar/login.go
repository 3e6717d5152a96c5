package registrar

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cocorico/node/consensus"
)

// SubjectKey keys the hash under which a registrar keeps a voter's
// OpenID Connect subject: HMAC-SHA-256, so that the store alone does not
// tell who voted, and a subject cannot be tried against it without the
// key (docs/PROTOCOL.md, identity at the registrar).
type SubjectKey []byte

// MinSubjectKeyBytes is the shortest subject-hash key accepted (the
// HMAC-SHA-256 output size, RFC 2104 §3).
const MinSubjectKeyBytes = 32

// Hash returns the keyed hash of subject sub at issuer iss: HMAC-SHA-256
// over the issuer's length (8 bytes, big-endian), the issuer and the
// subject. A subject is only unique at its issuer (OpenID Connect Core
// §2, "sub"), so the issuer is in the hash.
func (k SubjectKey) Hash(iss, sub string) consensus.Hash {
	m := hmac.New(sha256.New, k)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(iss)))
	m.Write(n[:])
	m.Write([]byte(iss))
	m.Write([]byte(sub))
	return consensus.Hash(m.Sum(nil))
}

// subjectPrefix starts the voter key of a subject hash: no voter id of a
// roll may start with it (CheckVoterID), so the two modes never share an
// issuance record.
const subjectPrefix = "oidc:"

// SubjectVoter is the voter key of a subject hash: what the issuance
// record of a voter who logged in is kept under, in place of a voter id.
func SubjectVoter(h consensus.Hash) string { return subjectPrefix + hex.EncodeToString(h[:]) }

// Claims are the claims eligibility rules may read, as the provider gave
// them (OpenID Connect Core §5.1; France Connect's birthplace is an INSEE
// code). They are read, checked and dropped: never stored, never logged.
type Claims struct {
	Birthdate  string // YYYY-MM-DD
	Birthplace string
	PostalCode string
}

// Eligibility are optional rules on a voter's claims. The zero value
// lets everyone through.
type Eligibility struct {
	// MinAge, if set, is the age in whole years the voter must have
	// reached on the day of the login (UTC), from the birthdate claim.
	MinAge int `json:"min_age,omitempty"`
	// Birthplaces, if set, lists the birthplace claim values allowed.
	Birthplaces []string `json:"birthplaces,omitempty"`
	// PostalCodes, if set, lists the address.postal_code values allowed.
	PostalCodes []string `json:"postal_codes,omitempty"`
}

// NeedsClaims reports whether the rules read any claim.
func (e Eligibility) NeedsClaims() bool {
	return e.MinAge > 0 || len(e.Birthplaces) > 0 || len(e.PostalCodes) > 0
}

// Validate refuses rules that cannot be met.
func (e Eligibility) Validate() error {
	if e.MinAge < 0 || e.MinAge > 150 {
		return fmt.Errorf("eligibility: min_age %d out of 0..150", e.MinAge)
	}
	return nil
}

// Check applies the rules to c on the day of now. A missing or malformed
// claim a rule needs is a refusal. The error says which rule, never the
// claim's value (it would be personal data in a log).
func (e Eligibility) Check(c Claims, now time.Time) error {
	if e.MinAge > 0 {
		age, err := ageOn(c.Birthdate, now)
		if err != nil {
			return fmt.Errorf("%w: birthdate: %v", ErrNotEligible, err)
		}
		if age < e.MinAge {
			return fmt.Errorf("%w: younger than %d", ErrNotEligible, e.MinAge)
		}
	}
	if len(e.Birthplaces) > 0 && !slices.Contains(e.Birthplaces, c.Birthplace) {
		return fmt.Errorf("%w: birthplace not among the allowed ones", ErrNotEligible)
	}
	if len(e.PostalCodes) > 0 && !slices.Contains(e.PostalCodes, c.PostalCode) {
		return fmt.Errorf("%w: postal code not among the allowed ones", ErrNotEligible)
	}
	return nil
}

// ageOn is the age in whole years on now's UTC day of someone born on
// birthdate (YYYY-MM-DD; a year of 0000 or a date without its day is
// refused: the rule cannot be decided).
func ageOn(birthdate string, now time.Time) (int, error) {
	b, err := time.Parse(time.DateOnly, birthdate)
	if err != nil || b.Year() == 0 {
		return 0, fmt.Errorf("not a full date")
	}
	y, m, d := now.UTC().Date()
	age := y - b.Year()
	if m < b.Month() || (m == b.Month() && d < b.Day()) {
		age--
	}
	return age, nil
}

// Return is where the registrar sends a voter's browser back after a
// login: a page of an allowed origin (the session in the URL's fragment,
// which the browser never sends to a server) or a loopback port of the
// voter's own command line (the session in the query, RFC 8252 §7.3).
type Return struct {
	URL      string
	Loopback bool
}

// CheckReturnURL checks a return URL: http://127.0.0.1:PORT/… or
// http://[::1]:PORT/… (RFC 8252 §7.3: a loopback IP literal, any port;
// "localhost" is not taken, §8.3), or a URL whose origin is one of
// allowedOrigins ("https://vote.example.org", compared exactly; a page's
// return, the session in the fragment, even on loopback). No user
// information, no fragment (the registrar writes it).
func CheckReturnURL(raw string, allowedOrigins []string) (Return, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") || len(raw) > 2048 {
		return Return{}, fmt.Errorf("%w: not an absolute URL without user or fragment", ErrReturnURL)
	}
	// An allowed origin is a page's, even on loopback (a devnet's nodes):
	// its session goes in the fragment, which no server sees.
	if slices.Contains(allowedOrigins, u.Scheme+"://"+u.Host) {
		return Return{URL: raw}, nil
	}
	if u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "::1") {
		if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
			return Return{}, fmt.Errorf("%w: a loopback URL needs its port", ErrReturnURL)
		}
		return Return{URL: raw, Loopback: true}, nil
	}
	return Return{}, fmt.Errorf("%w: origin %s is not one this registrar serves", ErrReturnURL, u.Scheme+"://"+u.Host)
}

// CheckOrigin checks an allowed origin of the configuration: scheme and
// host, no path. Plain http is for tests and loopback only.
func CheckOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Scheme+"://"+u.Host != o {
		return fmt.Errorf("allowed origin %q: want scheme://host[:port]", o)
	}
	return nil
}
