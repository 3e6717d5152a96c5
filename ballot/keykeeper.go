package ballot

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"slices"

	"github.com/cocorico/node/ballot/seal"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// Keykeeper is one of the n holders of a share of a sealed ballot's
// election secret (docs/PROTOCOL.md §19). Its number in the key generation
// is its place in the definition's list plus one.
type Keykeeper struct {
	Name string `cbor:"1,keyasint" json:"name"`
	// Key is the Ed25519 public key that signs its deal, complaints and share.
	Key []byte `cbor:"2,keyasint" json:"key"`
	// EncKey is the HPKE public key (DHKEM(P-256), seal.PublicKeySize
	// bytes) that the other keykeepers encrypt its shares to.
	EncKey []byte `cbor:"3,keyasint" json:"enc_key"`
}

// MaxKeykeepers bounds n.
const MaxKeykeepers = 16

// The signing domains of the keykeepers' messages.
const (
	DomainDeal      = "cocorico/v1/deal"
	DomainComplaint = "cocorico/v1/complaint"
	DomainShare     = "cocorico/v1/share"
	DomainAnswer    = "cocorico/v1/answer"
	// DomainSealed prefixes the context of every sealed-ballot encryption
	// and proof: "cocorico/v1/sealed" ‖ genesis hash ‖ ballot id.
	DomainSealed = "cocorico/v1/sealed"
)

// Deal is keykeeper i's contribution to a sealed ballot's key: the
// dealing of its random secret (docs/PROTOCOL.md §19.1).
type Deal struct {
	BallotID    consensus.Hash `cbor:"1,keyasint" json:"ballot_id"`
	Keykeeper   uint8          `cbor:"2,keyasint" json:"keykeeper"`
	Commitments [][]byte       `cbor:"3,keyasint" json:"commitments"`
	Shares      [][]byte       `cbor:"4,keyasint" json:"shares"`
	ProofV      []byte         `cbor:"5,keyasint" json:"proof_v"`
	ProofR      []byte         `cbor:"6,keyasint" json:"proof_r"`
	Signature   []byte         `cbor:"7,keyasint,omitempty" json:"signature"`
}

// Complaint is keykeeper Keykeeper's statement that the share Against's
// deal holds for it does not decrypt or does not match Against's
// commitments: it disqualifies that deal (docs/PROTOCOL.md §19.2).
type Complaint struct {
	BallotID  consensus.Hash `cbor:"1,keyasint" json:"ballot_id"`
	Keykeeper uint8          `cbor:"2,keyasint" json:"keykeeper"`
	Against   uint8          `cbor:"3,keyasint" json:"against"`
	Signature []byte         `cbor:"4,keyasint,omitempty" json:"signature"`
}

// Answer is dealer Keykeeper's reply to keykeeper To's complaint: the
// share f_i(To+1) in clear, which anybody checks against the dealer's
// commitments. A complaint answered so keeps the deal qualified
// (docs/PROTOCOL.md §19.2).
type Answer struct {
	BallotID  consensus.Hash `cbor:"1,keyasint" json:"ballot_id"`
	Keykeeper uint8          `cbor:"2,keyasint" json:"keykeeper"`
	To        uint8          `cbor:"3,keyasint" json:"to"`
	Value     []byte         `cbor:"4,keyasint" json:"value"`
	Signature []byte         `cbor:"5,keyasint,omitempty" json:"signature"`
}

// SignBytes returns "cocorico/v1/answer" ‖ canonical {1: genesis hash, 2: the answer without its signature}.
func (a *Answer) SignBytes(chain consensus.Chain) []byte {
	u := *a
	u.Signature = nil
	return signBytes(DomainAnswer, chain, &u)
}

// Sign signs a with the dealer's key.
func (a *Answer) Sign(chain consensus.Chain, key ed25519.PrivateKey) {
	a.Signature = ed25519.Sign(key, a.SignBytes(chain))
}

// Verify applies every stateless rule to an answer (its check against the
// commitments needs the deal: Batch does it).
func (a *Answer) Verify(chain consensus.Chain, ballots Ballots) error {
	b, err := keykeeperOf(chain, ballots, a.BallotID, a.Keykeeper, a.SignBytes(chain), a.Signature)
	if err != nil {
		return err
	}
	if int(a.To) >= len(b.Def.Keykeepers) || a.To == a.Keykeeper {
		return fmt.Errorf("%w: answer of keykeeper %d to %d", ErrKeykeeperInvalid, a.Keykeeper, a.To)
	}
	if len(a.Value) != seal.ScalarSize {
		return fmt.Errorf("%w: keykeeper %d: answer of %d bytes, want %d", ErrShareInvalid, a.Keykeeper, len(a.Value), seal.ScalarSize)
	}
	return nil
}

// recipients returns the keykeepers' HPKE keys in order.
func recipients(b *Ballot) [][]byte {
	out := make([][]byte, len(b.Def.Keykeepers))
	for j, k := range b.Def.Keykeepers {
		out[j] = k.EncKey
	}
	return out
}

// NewAnswer makes and signs dealer i's answer to keykeeper j's complaint,
// replaying its deal from rnd, the stream it dealt from (the deal on the
// chain must be that one: ErrDealInvalid otherwise).
func NewAnswer(rnd io.Reader, chain consensus.Chain, b *Ballot, onChain *Deal, j int, key ed25519.PrivateKey) (*Answer, error) {
	i := int(onChain.Keykeeper)
	d, v, err := seal.ShareOf(rnd, int(b.Def.Threshold), recipients(b), DealContext(chain, b.ID, i), j+1)
	if err != nil {
		return nil, err
	}
	if !slices.EqualFunc(d.Commitments, onChain.Commitments, bytes.Equal) {
		return nil, fmt.Errorf("%w: keykeeper %d's deal on the chain was not made from this stream", ErrDealInvalid, i)
	}
	a := &Answer{BallotID: b.ID, Keykeeper: uint8(i), To: uint8(j), Value: v}
	a.Sign(chain, key)
	return a, nil
}

// KeyShare is keykeeper j's share x_j of the election secret, published
// after closing (docs/PROTOCOL.md §19.4).
type KeyShare struct {
	BallotID  consensus.Hash `cbor:"1,keyasint" json:"ballot_id"`
	Keykeeper uint8          `cbor:"2,keyasint" json:"keykeeper"`
	Value     []byte         `cbor:"3,keyasint" json:"value"`
	Signature []byte         `cbor:"4,keyasint,omitempty" json:"signature"`
}

// keykeeperSignDoc is what a keykeeper signs after its domain: the
// chain's genesis hash and the message without its signature.
type keykeeperSignDoc struct {
	Genesis consensus.Hash `cbor:"1,keyasint"`
	Msg     any            `cbor:"2,keyasint"`
}

func signBytes(domain string, chain consensus.Chain, msg any) []byte {
	return append([]byte(domain), canon.MustMarshal(keykeeperSignDoc{chain.Genesis, msg})...)
}

// SignBytes returns "cocorico/v1/deal" ‖ canonical {1: genesis hash, 2: the deal without its signature}.
func (d *Deal) SignBytes(chain consensus.Chain) []byte {
	u := *d
	u.Signature = nil
	return signBytes(DomainDeal, chain, &u)
}

// SignBytes returns "cocorico/v1/complaint" ‖ canonical {1: genesis hash, 2: the complaint without its signature}.
func (c *Complaint) SignBytes(chain consensus.Chain) []byte {
	u := *c
	u.Signature = nil
	return signBytes(DomainComplaint, chain, &u)
}

// SignBytes returns "cocorico/v1/share" ‖ canonical {1: genesis hash, 2: the share without its signature}.
func (s *KeyShare) SignBytes(chain consensus.Chain) []byte {
	u := *s
	u.Signature = nil
	return signBytes(DomainShare, chain, &u)
}

// Sign signs d with the keykeeper's key.
func (d *Deal) Sign(chain consensus.Chain, key ed25519.PrivateKey) {
	d.Signature = ed25519.Sign(key, d.SignBytes(chain))
}

// Sign signs c with the keykeeper's key.
func (c *Complaint) Sign(chain consensus.Chain, key ed25519.PrivateKey) {
	c.Signature = ed25519.Sign(key, c.SignBytes(chain))
}

// Sign signs s with the keykeeper's key.
func (s *KeyShare) Sign(chain consensus.Chain, key ed25519.PrivateKey) {
	s.Signature = ed25519.Sign(key, s.SignBytes(chain))
}

// SealedInfo returns the context of a sealed ballot's encryptions and
// proofs: "cocorico/v1/sealed" ‖ genesis hash ‖ ballot id.
func SealedInfo(chain consensus.Chain, ballot consensus.Hash) []byte {
	out := append([]byte(DomainSealed), chain.Genesis[:]...)
	return append(out, ballot[:]...)
}

// DealContext returns the context of keykeeper i's (0-based) dealing.
func DealContext(chain consensus.Chain, ballot consensus.Hash, i int) seal.DealContext {
	return seal.DealContext{Info: SealedInfo(chain, ballot), Dealer: i + 1}
}

// Dealing returns the dealing d carries.
func (d *Deal) Dealing() *seal.Dealing {
	return &seal.Dealing{Commitments: d.Commitments, Shares: d.Shares, ProofV: d.ProofV, ProofR: d.ProofR}
}

// NewDeal makes and signs keykeeper i's (0-based) deal for a sealed ballot.
func NewDeal(rnd io.Reader, chain consensus.Chain, b *Ballot, i int, key ed25519.PrivateKey) (*Deal, error) {
	dl, err := seal.Deal(rnd, int(b.Def.Threshold), recipients(b), DealContext(chain, b.ID, i))
	if err != nil {
		return nil, err
	}
	d := &Deal{BallotID: b.ID, Keykeeper: uint8(i), Commitments: dl.Commitments, Shares: dl.Shares, ProofV: dl.ProofV, ProofR: dl.ProofR}
	d.Sign(chain, key)
	return d, nil
}

// keykeeperOf finds a keykeeper message's sealed ballot and checks its
// signature by keykeeper i.
func keykeeperOf(chain consensus.Chain, ballots Ballots, id consensus.Hash, i uint8, msg, sig []byte) (*Ballot, error) {
	b, found, err := ballots.Ballot(id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w %s", ErrUnknownBallot, id.Short())
	}
	if b.Def.Tally != TallySealed {
		return nil, fmt.Errorf("%w: ballot %s is not sealed", ErrKeykeeperInvalid, id.Short())
	}
	if int(i) >= len(b.Def.Keykeepers) {
		return nil, fmt.Errorf("%w: keykeeper %d of %d", ErrKeykeeperInvalid, i, len(b.Def.Keykeepers))
	}
	if len(sig) != ed25519.SignatureSize || !consensus.VerifyEd25519(b.Def.Keykeepers[i].Key, msg, sig) {
		return nil, fmt.Errorf("%w: keykeeper %d (%s)", ErrKeykeeperSignature, i, b.Def.Keykeepers[i].Name)
	}
	return b, nil
}

// Verify applies every stateless rule to a deal: its ballot is sealed, it
// is signed by the keykeeper it names, and its dealing holds t commitments,
// n encrypted shares and a valid proof of knowledge.
func (d *Deal) Verify(chain consensus.Chain, ballots Ballots) error {
	b, err := keykeeperOf(chain, ballots, d.BallotID, d.Keykeeper, d.SignBytes(chain), d.Signature)
	if err != nil {
		return err
	}
	if _, err := d.Dealing().Check(int(b.Def.Threshold), len(b.Def.Keykeepers), DealContext(chain, b.ID, int(d.Keykeeper))); err != nil {
		return fmt.Errorf("%w: keykeeper %d (%s): %v", ErrDealInvalid, d.Keykeeper, b.Def.Keykeepers[d.Keykeeper].Name, err)
	}
	return nil
}

// Verify applies every stateless rule to a complaint.
func (c *Complaint) Verify(chain consensus.Chain, ballots Ballots) error {
	b, err := keykeeperOf(chain, ballots, c.BallotID, c.Keykeeper, c.SignBytes(chain), c.Signature)
	if err != nil {
		return err
	}
	if int(c.Against) >= len(b.Def.Keykeepers) || c.Against == c.Keykeeper {
		return fmt.Errorf("%w: complaint of keykeeper %d against %d", ErrKeykeeperInvalid, c.Keykeeper, c.Against)
	}
	return nil
}

// Verify applies every stateless rule to a share (the check against the
// commitments needs the state: Batch does it).
func (s *KeyShare) Verify(chain consensus.Chain, ballots Ballots) error {
	if _, err := keykeeperOf(chain, ballots, s.BallotID, s.Keykeeper, s.SignBytes(chain), s.Signature); err != nil {
		return err
	}
	if len(s.Value) != seal.ScalarSize {
		return fmt.Errorf("%w: keykeeper %d: share of %d bytes, want %d", ErrShareInvalid, s.Keykeeper, len(s.Value), seal.ScalarSize)
	}
	return nil
}

// checkKeykeepers applies the definition rules of a sealed tally.
func (d *Definition) checkKeykeepers() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrDefinitionInvalid, fmt.Sprintf(format, args...))
	}
	if d.Tally != TallySealed {
		if len(d.Keykeepers) != 0 || d.Threshold != 0 || d.KeygenCloses != 0 {
			return bad("keykeepers, a threshold and keygen_closes are for sealed ballots only")
		}
		return nil
	}
	if d.KeygenCloses <= 0 || d.KeygenCloses >= d.Opens {
		return bad("keygen_closes %d, opens %d: want 0 < keygen_closes < opens", d.KeygenCloses, d.Opens)
	}
	n := len(d.Keykeepers)
	if n < 1 || n > MaxKeykeepers {
		return bad("%d keykeepers, want 1 to %d", n, MaxKeykeepers)
	}
	if d.Threshold < 1 || int(d.Threshold) > n {
		return bad("threshold %d of %d keykeepers, want 1 ≤ t ≤ n", d.Threshold, n)
	}
	seen := map[string]bool{}
	for i, k := range d.Keykeepers {
		if err := checkText(k.Name, MaxNameBytes); err != nil {
			return bad("keykeeper %d name: %v", i, err)
		}
		if len(k.Key) != ed25519.PublicKeySize {
			return bad("keykeeper %d key of %d bytes, want %d", i, len(k.Key), ed25519.PublicKeySize)
		}
		if err := seal.CheckPublicKey(k.EncKey); err != nil {
			return bad("keykeeper %d enc_key: %v", i, err)
		}
		if seen[string(k.Key)] || seen[string(k.EncKey)] {
			return bad("keykeeper %d: a key named twice", i)
		}
		seen[string(k.Key)], seen[string(k.EncKey)] = true, true
	}
	return nil
}
