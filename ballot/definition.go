package ballot

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// Tally says how choices are counted.
type Tally uint8

// Tally modes: an open ballot's counts move with every block; a sealed
// ballot's choices are encrypted to a key its keykeepers make and recover
// after closing (docs/PROTOCOL.md §19).
const (
	TallyOpen   Tally = 0
	TallySealed Tally = 1
)

func (t Tally) String() string {
	switch t {
	case TallyOpen:
		return "open"
	case TallySealed:
		return "sealed"
	}
	return fmt.Sprintf("tally(%d)", uint8(t))
}

// MarshalJSON writes "open" or "sealed".
func (t Tally) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON reads "open" or "sealed".
func (t *Tally) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch s {
	case "open":
		*t = TallyOpen
	case "sealed":
		*t = TallySealed
	default:
		return fmt.Errorf("tally %q: want open or sealed", s)
	}
	return nil
}

// Registrar names a registrar of a ballot and the RSA public key, fresh for
// this ballot, under which it blind-signs voter tokens.
type Registrar struct {
	Name string `cbor:"1,keyasint" json:"name"`
	// URL is where voters ask for a token; optional.
	URL string `cbor:"2,keyasint,omitempty" json:"url,omitempty"`
	// Key is the RSA public key as DER SubjectPublicKeyInfo (RFC 5280),
	// the form `openssl pkey -pubin -inform DER` reads.
	Key []byte `cbor:"3,keyasint" json:"key"`
}

// Definition is the transaction that creates a ballot. Its transaction id
// is the ballot id. docs/PROTOCOL.md §Definition.
type Definition struct {
	ChainID  string   `cbor:"1,keyasint" json:"chain_id"`
	Question string   `cbor:"2,keyasint" json:"question"`
	Choices  []string `cbor:"3,keyasint" json:"choices"`
	// Opens and Closes are block times in Unix milliseconds: casts are
	// accepted in blocks whose time t has Opens ≤ t < Closes.
	Opens      int64       `cbor:"4,keyasint" json:"opens"`
	Closes     int64       `cbor:"5,keyasint" json:"closes"`
	Registrars []Registrar `cbor:"6,keyasint" json:"registrars"`
	Tally      Tally       `cbor:"7,keyasint" json:"tally"`
	Revote     bool        `cbor:"8,keyasint" json:"revote"`
	Organizer  []byte      `cbor:"9,keyasint" json:"organizer"`
	Signature  []byte      `cbor:"10,keyasint,omitempty" json:"signature"`
	// GenesisHash names the chain the ballot belongs to beyond its name:
	// the same definition on a relaunched chain is another ballot, with
	// another id, and its tokens and casts are worthless there.
	GenesisHash consensus.Hash `cbor:"11,keyasint" json:"genesis_hash"`
	// Keykeepers and Threshold are a sealed ballot's n keykeepers and the
	// t of them whose shares recover its election secret
	// (docs/PROTOCOL.md §19); absent for an open ballot.
	Keykeepers []Keykeeper `cbor:"12,keyasint,omitempty" json:"keykeepers,omitempty"`
	Threshold  uint8       `cbor:"13,keyasint,omitempty" json:"threshold,omitempty"`
	// KeygenCloses (Unix ms) ends a sealed ballot's deals and complaints;
	// dealers answer complaints until Opens (docs/PROTOCOL.md §19.2).
	KeygenCloses int64 `cbor:"14,keyasint,omitempty" json:"keygen_closes,omitempty"`
}

// Limits of a definition.
const (
	MinChoices       = 2
	MaxChoices       = 64
	MaxLabelBytes    = 200
	MaxQuestionBytes = 2000
	MaxRegistrars    = 8
	MaxNameBytes     = 100
	MaxURLBytes      = 500
)

// DomainBallot separates organizer signatures from every other signature.
const DomainBallot = "cocorico/v1/ballot"

// SignBytes returns "cocorico/v1/ballot" ‖ canonical bytes of d without its
// signature. The chain id is inside d.
func (d *Definition) SignBytes() []byte {
	c := *d
	c.Signature = nil
	return append([]byte(DomainBallot), canon.MustMarshal(&c)...)
}

// Sign sets the organizer key and signature.
func (d *Definition) Sign(key ed25519.PrivateKey) {
	d.Organizer = key.Public().(ed25519.PublicKey)
	d.Signature = ed25519.Sign(key, d.SignBytes())
}

// ID returns the ballot id: the id of the transaction holding d.
func (d *Definition) ID() consensus.Hash { return (&Tx{Definition: d}).ID() }

// Ballot is a definition checked and ready for use: its id and its
// registrar keys parsed once.
type Ballot struct {
	ID   consensus.Hash
	Def  *Definition
	Keys []*rsa.PublicKey
	// tokenKeys are Keys ready to verify tokens (Parse prepares them).
	tokenKeys []*tokenKey
}

// Check applies the stateless rules of a chain to a definition: its
// chain (id and genesis hash), an organizer the genesis allows, and every
// rule Parse applies. It returns the ballot ready to verify casts against.
func (d *Definition) Check(r Rules) (*Ballot, error) {
	if d.ChainID != r.Chain.ID {
		return nil, fmt.Errorf("%w: definition for chain %q", ErrWrongChain, d.ChainID)
	}
	if d.GenesisHash != r.Chain.Genesis {
		return nil, fmt.Errorf("%w: definition for genesis %s, this chain's is %s", ErrWrongChain, d.GenesisHash.Short(), r.Chain.Genesis.Short())
	}
	if !r.App.IsOrganizer(d.Organizer) {
		return nil, fmt.Errorf("%w: %x is not among the genesis organizers", ErrOrganizerNotAllowed, d.Organizer)
	}
	return d.Parse()
}

// Parse applies the rules that need nothing but the definition: sizes,
// ranges, URLs, registrar keys, the organizer's signature. It returns the
// ballot ready to verify casts against. A client that knows the chain
// calls Check.
func (d *Definition) Parse() (*Ballot, error) {
	if err := d.checkFields(); err != nil {
		return nil, err
	}
	keys := make([]*rsa.PublicKey, len(d.Registrars))
	tokenKeys := make([]*tokenKey, len(d.Registrars))
	for i, r := range d.Registrars {
		k, err := ParseRegistrarKey(r.Key)
		if err == nil {
			tokenKeys[i], err = newTokenKey(k)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: registrar %d: %v", ErrDefinitionInvalid, i, err)
		}
		keys[i] = k
	}
	if !consensus.VerifyEd25519(d.Organizer, d.SignBytes(), d.Signature) {
		return nil, ErrOrganizerSignature
	}
	return &Ballot{ID: d.ID(), Def: d, Keys: keys, tokenKeys: tokenKeys}, nil
}

func (d *Definition) checkFields() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrDefinitionInvalid, fmt.Sprintf(format, args...))
	}
	if err := checkText(d.Question, MaxQuestionBytes); err != nil {
		return bad("question: %v", err)
	}
	if n := len(d.Choices); n < MinChoices || n > MaxChoices {
		return bad("%d choices, want %d to %d", n, MinChoices, MaxChoices)
	}
	seen := make(map[string]bool, len(d.Choices))
	for i, c := range d.Choices {
		if err := checkText(c, MaxLabelBytes); err != nil {
			return bad("choice %d: %v", i, err)
		}
		if seen[c] {
			return bad("choice %q twice", c)
		}
		seen[c] = true
	}
	if d.Opens < 0 || d.Closes <= d.Opens {
		return bad("opens %d, closes %d: want 0 ≤ opens < closes", d.Opens, d.Closes)
	}
	if n := len(d.Registrars); n < 1 || n > MaxRegistrars {
		return bad("%d registrars, want 1 to %d", n, MaxRegistrars)
	}
	for i, r := range d.Registrars {
		if err := checkText(r.Name, MaxNameBytes); err != nil {
			return bad("registrar %d name: %v", i, err)
		}
		if err := CheckRegistrarURL(r.URL); err != nil {
			return bad("registrar %d url: %v", i, err)
		}
	}
	if d.Tally != TallyOpen && d.Tally != TallySealed {
		return bad("tally mode %d", d.Tally)
	}
	return d.checkKeykeepers()
}

// CheckRegistrarURL applies the rule of a registrar's URL (docs/PROTOCOL.md
// §10): empty, or an absolute https URL (http only on a loopback host, for
// a devnet) of at most MaxURLBytes, with a host, and no user info, query
// or fragment. The URL is for voters' clients: no node ever fetches it.
func CheckRegistrarURL(raw string) error {
	if raw == "" {
		return nil
	}
	if len(raw) > MaxURLBytes {
		return fmt.Errorf("%d bytes, at most %d", len(raw), MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || !utf8.ValidString(raw) {
		return fmt.Errorf("not a URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("scheme %q, want https", u.Scheme)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return fmt.Errorf("http is allowed on a loopback host only (a devnet): use https")
	case u.Host == "" || u.Opaque != "":
		return fmt.Errorf("no host")
	case !dnsNameOrIP(u.Hostname()):
		// the host goes into the voting page's Content-Security-Policy
		// (connect-src): a ; or a * there would be a directive or a
		// wildcard of the organizer's choosing
		return fmt.Errorf("host %q: want a DNS name (ASCII letters, digits, - and .) or an IP address", u.Hostname())
	case u.User != nil:
		return fmt.Errorf("user info is not allowed")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#"):
		return fmt.Errorf("a query or fragment is not allowed")
	case strings.ContainsAny(raw, " \\\t\r\n"):
		return fmt.Errorf("white space or backslash")
	}
	return nil
}

func dnsNameOrIP(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "" {
		return false
	}
	for _, c := range []byte(host) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func checkText(s string, max int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("empty")
	case len(s) > max:
		return fmt.Errorf("%d bytes, at most %d", len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("not UTF-8")
	}
	return nil
}

// Registrar key sizes: RSA-2048 by default, RSA-3072 allowed; exponent 65537.
const (
	KeyBits2048 = 2048
	KeyBits3072 = 3072
)

// ParseRegistrarKey parses a DER SubjectPublicKeyInfo RSA key and checks
// that it is 2048 or 3072 bits with public exponent 65537.
func ParseRegistrarKey(der []byte) (*rsa.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("registrar key: %w", err)
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("registrar key: %T, want RSA", pub)
	}
	if bits := k.N.BitLen(); bits != KeyBits2048 && bits != KeyBits3072 {
		return nil, fmt.Errorf("registrar key: %d bits, want 2048 or 3072", bits)
	}
	if k.E != 65537 {
		return nil, fmt.Errorf("registrar key: exponent %d, want 65537", k.E)
	}
	return k, nil
}

// MarshalRegistrarKey returns the DER SubjectPublicKeyInfo of k.
func MarshalRegistrarKey(k *rsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		panic(err) // an RSA public key always marshals
	}
	return der
}
