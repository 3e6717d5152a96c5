package ballot_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"testing"

	"filippo.io/edwards25519"

	"github.com/cocorico/node/consensus"
)

// ed25519Vectors are signatures with their verdict under the protocol's
// Ed25519 rule (docs/PROTOCOL.md §1: ZIP 215), for an implementation to
// check its verifier against: the edge cases where libraries differ.
type ed25519Vectors struct {
	About string          `json:"about"`
	Cases []ed25519Vector `json:"cases"`
}

type ed25519Vector struct {
	PublicKey string `json:"public_key"`
	Message   string `json:"message_hex"`
	Signature string `json:"signature"`
	Valid     bool   `json:"valid"`
	Why       string `json:"why"`
}

// smallOrderEncodings are the 14 encodings of points of order dividing 8:
// the 8 canonical ones and the 6 that are not (y ≥ p, or x = 0 with its
// sign bit set), each of which ZIP 215 decodes.
func smallOrderEncodings(t *testing.T) [][]byte {
	t.Helper()
	// A point of order 8: the part of order 8 of some point P, P minus
	// its part of prime order ℓ, [1/8]([8]P).
	eighth, _ := edwards25519.NewScalar().SetCanonicalBytes(append([]byte{8}, make([]byte, 31)...))
	eighth.Invert(eighth)
	var torsion *edwards25519.Point
	for seed := byte(0); torsion == nil; seed++ {
		h := sha512.Sum512([]byte{seed})
		p, err := new(edwards25519.Point).SetBytes(h[:32])
		if err != nil {
			continue
		}
		prime := new(edwards25519.Point).ScalarMult(eighth, new(edwards25519.Point).MultByCofactor(p))
		tp := new(edwards25519.Point).Subtract(p, prime)
		four := new(edwards25519.Point).Add(tp, tp)
		four.Add(four, four)
		if four.Equal(edwards25519.NewIdentityPoint()) == 0 {
			torsion = tp
		}
	}
	var out [][]byte
	seen := map[string]bool{}
	add := func(e []byte) {
		if seen[string(e)] {
			return
		}
		p, err := new(edwards25519.Point).SetBytes(e)
		if err != nil {
			t.Fatalf("%x does not decode", e)
		}
		if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 0 {
			t.Fatalf("%x is not of small order", e)
		}
		seen[string(e)] = true
		out = append(out, e)
	}
	pt := edwards25519.NewIdentityPoint()
	var canonical [][]byte
	for range 8 {
		canonical = append(canonical, pt.Bytes())
		pt = new(edwards25519.Point).Add(pt, torsion)
	}
	for _, e := range canonical {
		add(e)
	}
	one := append([]byte{1}, make([]byte, 31)...)
	for _, e := range canonical {
		y := bytes.Clone(e)
		y[31] &= 0x7f
		sign := e[31] & 0x80
		if y[0] < 19 && bytes.Equal(y[1:], make([]byte, 31)) { // y + p < 2^255
			ny := bytes.Repeat([]byte{0xff}, 32)
			ny[0], ny[31] = 0xed+y[0], 0x7f|sign
			add(ny)
			if bytes.Equal(y, one) { // x = 0: the other sign too
				f := bytes.Clone(ny)
				f[31] |= 0x80
				add(f)
			}
		}
		if bytes.Equal(y, one) || bytes.Equal(y[1:31], bytes.Repeat([]byte{0xff}, 30)) && y[0] == 0xec && y[31] == 0x7f { // x = 0: y = 1 or y = p − 1
			f := bytes.Clone(e)
			f[31] |= 0x80
			add(f)
		}
	}
	if len(out) != 14 {
		t.Fatalf("%d small-order encodings, want 14", len(out))
	}
	return out
}

// The protocol's Ed25519 verification (consensus.VerifyEd25519, and the
// batch verifier, which must agree with it) gives each case of
// docs/vectors/ed25519.json its verdict: every pair of small-order A and
// R with S = 0 is valid (the cofactored equation), a signature made by
// RFC 8032 is valid, and it is invalid with S + ℓ, with an R or an A
// that is no point, or over another message.
func TestProtocolVectorsOfEd25519FollowZIP215(t *testing.T) {
	msg := []byte("Zcash") // ZIP 215's own message
	var want ed25519Vectors
	want.About = "Ed25519 signatures and their verdict under docs/PROTOCOL.md §1 (ZIP 215): the first 196 are every pair of the 14 encodings of small-order points as the public key A and as R, with S = 0 (valid: [8][S]B = [8]R + [8][k]A holds, every term being 0); then an RFC 8032 signature (valid), the same with S + ℓ (invalid: S must be < ℓ), with an R or an A that decodes to no point (invalid), and over another message (invalid). Message: hex of the bytes signed."
	small := smallOrderEncodings(t)
	for _, a := range small {
		for _, r := range small {
			want.Cases = append(want.Cases, ed25519Vector{PublicKey: hex.EncodeToString(a), Message: hex.EncodeToString(msg),
				Signature: hex.EncodeToString(append(bytes.Clone(r), make([]byte, 32)...)), Valid: true, Why: "small-order A and R, S = 0"})
		}
	}
	key := seededKey(40)
	pub := key.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(key, msg)
	plusL := bytes.Clone(sig)
	l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	carry := 0
	for i := range 32 {
		v := int(plusL[32+i]) + int(l[i]) + carry
		plusL[32+i], carry = byte(v), v>>8
	}
	notPoint := []byte{2} // y = 2 is the y of no point of the curve
	notPoint = append(notPoint, make([]byte, 31)...)
	if _, err := new(edwards25519.Point).SetBytes(notPoint); err == nil {
		t.Fatal("y = 2 decodes: pick another")
	}
	badR := append(bytes.Clone(notPoint), sig[32:]...)
	other := []byte("Zcash!")
	for _, c := range []ed25519Vector{
		{hex.EncodeToString(pub), hex.EncodeToString(msg), hex.EncodeToString(sig), true, "RFC 8032 signature"},
		{hex.EncodeToString(pub), hex.EncodeToString(msg), hex.EncodeToString(plusL), false, "S + ℓ: S not below ℓ"},
		{hex.EncodeToString(pub), hex.EncodeToString(msg), hex.EncodeToString(badR), false, "R decodes to no point"},
		{hex.EncodeToString(notPoint), hex.EncodeToString(msg), hex.EncodeToString(sig), false, "A decodes to no point"},
		{hex.EncodeToString(pub), hex.EncodeToString(other), hex.EncodeToString(sig), false, "another message"},
	} {
		want.Cases = append(want.Cases, c)
	}
	// The verdicts are the verifier's, one by one and in one batch.
	batch := &consensus.Ed25519Batch{}
	for i, c := range want.Cases {
		a, _ := hex.DecodeString(c.PublicKey)
		m, _ := hex.DecodeString(c.Message)
		s, _ := hex.DecodeString(c.Signature)
		if got := consensus.VerifyEd25519(a, m, s); got != c.Valid {
			t.Fatalf("case %d (%s): VerifyEd25519 says %v, ZIP 215 %v", i, c.Why, got, c.Valid)
		}
		batch.Add(a, m, s)
	}
	oks := batch.Verify()
	for i, c := range want.Cases {
		if oks[i] != c.Valid {
			t.Fatalf("case %d (%s): the batch says %v, one by one %v", i, c.Why, oks[i], c.Valid)
		}
	}
	matchVectorFile(t, "ed25519.json", want)
}
