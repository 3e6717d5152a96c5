package consensus

import (
	"crypto/ed25519"
	"fmt"
	"testing"
)

// zip215Vector is a signature that ZIP 215 accepts and RFC 8032's strict
// reading (Go's crypto/ed25519) refuses: the key is the identity point,
// R a non-canonical encoding of it (y = p + 1), S zero. The cofactored
// equation holds for any message.
func zip215Vector() (pub, sig []byte) {
	pub = make([]byte, 32)
	pub[0] = 1
	r := make([]byte, 32)
	r[0] = 0xee
	for i := 1; i < 31; i++ {
		r[i] = 0xff
	}
	r[31] = 0x7f
	return pub, append(r, make([]byte, 32)...)
}

func TestEd25519FollowsZIP215WhereRFC8032ImplementationsDiffer(t *testing.T) {
	pub, sig := zip215Vector()
	msg := []byte("any message")
	if ed25519.Verify(pub, msg, sig) {
		t.Fatal("crypto/ed25519 accepts the vector: it no longer tells the two rules apart")
	}
	if !VerifyEd25519(pub, msg, sig) {
		t.Fatal("VerifyEd25519 refuses a signature ZIP 215 accepts")
	}
	b := NewEd25519Batch(2)
	b.Add(pub, msg, sig)
	b.Add(pub, []byte("another"), sig)
	if ok := b.Verify(); !ok[0] || !ok[1] {
		t.Fatalf("batch verdicts %v, want the single verdicts [true true]", ok)
	}
}

func TestEd25519BatchNamesTheBadSignaturesAmongGoodOnes(t *testing.T) {
	b := NewEd25519Batch(64)
	var want []bool
	for i := range 64 {
		pub, priv, _ := ed25519.GenerateKey(nil)
		msg := []byte(fmt.Sprintf("message %d", i))
		sig := ed25519.Sign(priv, msg)
		good := i%9 != 4
		switch {
		case good:
		case i%2 == 0:
			sig[5] ^= 1 // a bit flipped in R
		default:
			msg = []byte("another message") // signed something else
		}
		b.Add(pub, msg, sig)
		want = append(want, good)
	}
	b.Add(make([]byte, 31), []byte("short key"), make([]byte, 64))
	want = append(want, false)
	got := b.Verify()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("signature %d: verdict %v, want %v", i, got[i], want[i])
		}
	}
	if len(NewEd25519Batch(0).Verify()) != 0 {
		t.Fatal("an empty batch has verdicts")
	}
}

func TestVerifyEd25519RefusesNonCanonicalSAndWrongSizes(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := []byte("m")
	sig := ed25519.Sign(priv, msg)
	if !VerifyEd25519(pub, msg, sig) {
		t.Fatal("a good signature refused")
	}
	high := append([]byte(nil), sig...)
	high[63] |= 0xe0 // S far above the group order
	for name, c := range map[string][3][]byte{
		"S not canonical": {pub, msg, high},
		"short signature": {pub, msg, sig[:63]},
		"short key":       {pub[:31], msg, sig},
	} {
		if VerifyEd25519(c[0], c[1], c[2]) {
			t.Errorf("%s: accepted", name)
		}
	}
}
