package seal

import (
	"fmt"
	"io"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/kem"
	"github.com/cloudflare/circl/secretsharing"
	"github.com/cloudflare/circl/zk/dl"
)

// The key generation is Pedersen's dealer-free one over Feldman's verifiable
// secret sharing (docs/PROTOCOL.md §19.1): each of n keykeepers deals a
// random secret a_i0 with a polynomial f_i of degree t−1, publishes
// commitments C_ik = a_ik·G, a Schnorr proof of knowledge of a_i0, and f_i(j)
// encrypted to each keykeeper j. Keykeepers are numbered 1..n here (the
// share ids of circl/secretsharing); the election key is Y = Σ_{i∈Q} C_i0
// over the qualified dealers Q, and keykeeper j's share of its secret is
// x_j = Σ_{i∈Q} f_i(j).

// Dealing is what a dealer publishes: commitments (t compressed points),
// one encrypted share per keykeeper (EncryptedShareSize bytes each), and
// the proof of knowledge of a_i0 (V, r).
type Dealing struct {
	Commitments [][]byte
	Shares      [][]byte
	ProofV      []byte
	ProofR      []byte
}

// DealContext binds a dealing to its chain and ballot (Info), and names
// the dealer (1..n).
type DealContext struct {
	Info   []byte
	Dealer int
}

func (c DealContext) shareInfo(j int) []byte {
	return append(append([]byte(nil), c.Info...), byte(c.Dealer), byte(j))
}

func (c DealContext) proofID() []byte { return []byte{byte(c.Dealer)} }

// Deal makes the dealing of keykeeper ctx.Dealer for threshold t, to the
// keykeepers whose HPKE keys are recipients (keykeeper j = recipients[j-1]).
func Deal(rnd io.Reader, t int, recipients [][]byte, ctx DealContext) (*Dealing, error) {
	d, _, err := deal(rnd, t, recipients, ctx)
	return d, err
}

// ShareOf replays Deal from the same random stream and returns the share
// it gave keykeeper j (1..n) with the dealing it made: a dealer that
// derives its stream from a secret of its own answers a complaint with it
// (the caller checks the dealing is the one on the chain).
func ShareOf(rnd io.Reader, t int, recipients [][]byte, ctx DealContext, j int) (*Dealing, []byte, error) {
	d, shares, err := deal(rnd, t, recipients, ctx)
	if err != nil {
		return nil, nil, err
	}
	if j < 1 || j > len(shares) {
		return nil, nil, fmt.Errorf("seal: keykeeper %d of %d", j, len(shares))
	}
	v, _ := shares[j-1].Value.MarshalBinary()
	return d, v, nil
}

func deal(rnd io.Reader, t int, recipients [][]byte, ctx DealContext) (*Dealing, []secretsharing.Share, error) {
	n := len(recipients)
	if t < 1 || t > n {
		return nil, nil, fmt.Errorf("seal: threshold %d of %d", t, n)
	}
	a0 := g.RandomNonZeroScalar(rnd)
	ss := secretsharing.New(rnd, uint(t-1), a0)
	com := ss.CommitSecret()
	d := &Dealing{Commitments: make([][]byte, t), Shares: make([][]byte, n)}
	for k, c := range com {
		d.Commitments[k], _ = c.MarshalBinaryCompress()
	}
	shares := ss.Share(uint(n))
	for j, s := range shares {
		v, _ := s.Value.MarshalBinary()
		enc, ct, _, err := encrypt(rnd, recipients[j], ctx.shareInfo(j+1), v, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("seal: share for keykeeper %d: %w", j+1, err)
		}
		d.Shares[j] = append(enc, ct...)
	}
	p := dl.Prove(g, g.Generator(), com[0], a0, ctx.proofID(), ctx.Info, rnd)
	d.ProofV, _ = p.V.MarshalBinaryCompress()
	d.ProofR, _ = p.R.MarshalBinary()
	return d, shares, nil
}

// CheckShare checks a share f(j) revealed in clear (a dealer's answer to
// keykeeper j's complaint) against the dealer's commitments.
func (c Commitments) CheckShare(j int, value []byte) error { return Joint(c).CheckShare(j, value) }

// Commitments are a dealer's parsed commitments.
type Commitments []group.Element

// Check applies every rule anyone can check of a dealing for threshold t
// among n keykeepers: sizes, points on the curve and not the identity, and
// the proof of knowledge of a_i0 (so that no dealer can choose its C_i0 as
// a function of the others': the rogue-key attack). It returns the parsed
// commitments.
func (d *Dealing) Check(t, n int, ctx DealContext) (Commitments, error) {
	if len(d.Commitments) != t || len(d.Shares) != n {
		return nil, fmt.Errorf("%w: %d commitments and %d shares, want %d and %d", ErrMalformed, len(d.Commitments), len(d.Shares), t, n)
	}
	com := make(Commitments, t)
	for k, b := range d.Commitments {
		e, err := element(b)
		if err != nil {
			return nil, fmt.Errorf("commitment %d: %w", k, err)
		}
		com[k] = e
	}
	for j, s := range d.Shares {
		if len(s) != EncryptedShareSize {
			return nil, fmt.Errorf("%w: share %d of %d bytes, want %d", ErrMalformed, j+1, len(s), EncryptedShareSize)
		}
	}
	V, err := element(d.ProofV)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	r, err := scalar(d.ProofR)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	if !dl.Verify(g, g.Generator(), com[0], dl.Proof{V: V, R: r}, ctx.proofID(), ctx.Info) {
		return nil, ErrProof
	}
	return com, nil
}

// OpenShare is keykeeper j's check of the share a dealing holds for it: it
// decrypts it with j's HPKE private key and checks it against the dealer's
// commitments (Feldman). A share that fails is grounds for a complaint.
func OpenShare(d *Dealing, com Commitments, j int, sk kem.PrivateKey, ctx DealContext) (group.Scalar, error) {
	if j < 1 || j > len(d.Shares) {
		return nil, fmt.Errorf("seal: keykeeper %d of %d", j, len(d.Shares))
	}
	s := d.Shares[j-1]
	pt, err := decrypt(sk, ctx.shareInfo(j), s[:PublicKeySize], s[PublicKeySize:], nil)
	if err != nil {
		return nil, err
	}
	x, err := scalar(pt)
	if err != nil {
		return nil, err
	}
	if !secretsharing.Verify(uint(len(com)-1), secretsharing.Share{ID: id(j), Value: x}, com) {
		return nil, ErrShare
	}
	return x, nil
}

// Joint are the commitments of the qualified dealers added term by term:
// Joint[0] is the election key Y, and keykeeper j's share x_j satisfies
// x_j·G = Σ_k Joint[k]·j^k.
type Joint Commitments

// Combine adds the commitments of the qualified dealers; each has the
// same length t.
func Combine(dealers []Commitments) Joint {
	if len(dealers) == 0 {
		return nil
	}
	out := make(Joint, len(dealers[0]))
	for k := range out {
		out[k] = g.Identity()
		for _, c := range dealers {
			out[k].Add(out[k], c[k])
		}
	}
	return out
}

// Key returns the election key as an HPKE public key (PublicKeySize bytes).
func (j Joint) Key() []byte {
	b, _ := j[0].MarshalBinary()
	return b
}

// AddShares returns Σ shares: keykeeper j's share of the election secret
// from the shares the qualified dealers gave it.
func AddShares(shares []group.Scalar) []byte {
	sum := g.NewScalar()
	for _, s := range shares {
		sum.Add(sum, s)
	}
	b, _ := sum.MarshalBinary()
	return b
}

// CheckShare checks keykeeper j's published share x_j against the joint
// commitments.
func (j Joint) CheckShare(keeper int, value []byte) error {
	x, err := scalar(value)
	if err != nil {
		return err
	}
	if !secretsharing.Verify(uint(len(j)-1), secretsharing.Share{ID: id(keeper), Value: x}, Commitments(j)) {
		return ErrShare
	}
	return nil
}

// Recover interpolates the election secret from t checked shares
// (keykeeper number → x_j) and checks it against the election key. It
// returns the secret as an HPKE private key and its bytes.
func (j Joint) Recover(shares map[int][]byte) (kem.PrivateKey, []byte, error) {
	t := len(j)
	if len(shares) < t {
		return nil, nil, fmt.Errorf("seal: %d shares, %d needed", len(shares), t)
	}
	list := make([]secretsharing.Share, 0, len(shares))
	for k, v := range shares {
		x, err := scalar(v)
		if err != nil {
			return nil, nil, err
		}
		list = append(list, secretsharing.Share{ID: id(k), Value: x})
	}
	x, err := secretsharing.Recover(uint(t-1), list)
	if err != nil {
		return nil, nil, err
	}
	if !g.NewElement().MulGen(x).IsEqual(j[0]) {
		return nil, nil, fmt.Errorf("%w: the recovered secret is not the election key's", ErrShare)
	}
	b, _ := x.MarshalBinary()
	sk, err := PrivateKey(b)
	return sk, b, err
}

func id(j int) group.Scalar { return g.NewScalar().SetUint64(uint64(j)) }

func element(b []byte) (group.Element, error) {
	if len(b) != ElementSize {
		return nil, fmt.Errorf("%w: point of %d bytes, want %d", ErrMalformed, len(b), ElementSize)
	}
	e := g.NewElement()
	if err := e.UnmarshalBinary(b); err != nil || e.IsIdentity() {
		return nil, fmt.Errorf("%w: not a point of the group", ErrMalformed)
	}
	return e, nil
}

// Scalar parses a scalar (ScalarSize bytes, big-endian, below the order).
func Scalar(b []byte) (group.Scalar, error) { return scalar(b) }

func scalar(b []byte) (group.Scalar, error) {
	if len(b) != ScalarSize {
		return nil, fmt.Errorf("%w: scalar of %d bytes, want %d", ErrMalformed, len(b), ScalarSize)
	}
	s := g.NewScalar()
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: scalar", ErrMalformed)
	}
	return s, nil
}
