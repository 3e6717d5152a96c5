package ballot_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha512"
	"errors"
	"testing"

	"github.com/cloudflare/circl/blindsign/blindrsa"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

// RFC 9474 §1: the output of the protocol is a standard RSASSA-PSS
// signature. This test checks it with Go's crypto/rsa directly, not
// through any function of the project.
func TestTokenIsAnOrdinaryRSAPSSSignatureRFC9474(t *testing.T) {
	for _, bits := range []int{ballot.KeyBits2048, ballot.KeyBits3072} {
		e := ballottest.NewElection(ballottest.Options{KeyBits: bits, Seed: 1})
		v := e.NewVoter()
		prepared := append(append([]byte(nil), v.Token.Prefix...),
			ballot.TokenMessage(e.Ballot.ID, v.Key.Public().(ed25519.PublicKey))...)
		digest := sha512.Sum384(prepared)
		opts := &rsa.PSSOptions{SaltLength: 48, Hash: crypto.SHA384}
		if err := rsa.VerifyPSS(&e.Registrar.PublicKey, crypto.SHA384, digest[:], v.Token.Signature, opts); err != nil {
			t.Fatalf("RSA-%d: crypto/rsa VerifyPSS refuses the token: %v", bits, err)
		}
		verifier, err := blindrsa.NewVerifier(blindrsa.SHA384PSSRandomized, &e.Registrar.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifier.Verify(prepared, v.Token.Signature); err != nil {
			t.Fatalf("RSA-%d: circl's verifier refuses the token: %v", bits, err)
		}
	}
}

func TestTokenForAnotherBallotOrVoterKeyIsInvalid(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 2})
	other := ballottest.NewElection(ballottest.Options{Seed: 3})
	v, w := e.NewVoter(), e.NewVoter()
	pub := v.Key.Public().(ed25519.PublicKey)
	key := &e.Registrar.PublicKey
	if err := ballot.VerifyToken(key, e.Ballot.ID, pub, v.Token.Prefix, v.Token.Signature); err != nil {
		t.Fatal(err)
	}
	if err := ballot.VerifyToken(key, other.Ballot.ID, pub, v.Token.Prefix, v.Token.Signature); !errors.Is(err, ballot.ErrTokenInvalid) {
		t.Fatalf("other ballot: %v", err)
	}
	if err := ballot.VerifyToken(key, e.Ballot.ID, w.Key.Public().(ed25519.PublicKey), v.Token.Prefix, v.Token.Signature); !errors.Is(err, ballot.ErrTokenInvalid) {
		t.Fatalf("other voter key: %v", err)
	}
	if err := ballot.VerifyToken(key, e.Ballot.ID, pub, w.Token.Prefix, v.Token.Signature); !errors.Is(err, ballot.ErrTokenInvalid) {
		t.Fatalf("other prefix: %v", err)
	}
}

func TestFinalizeCatchesARegistrarThatSignedSomethingElse(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 4})
	v := e.NewVoter()
	req, err := ballot.NewTokenRequest(ballottest.Seeded(9), &e.Registrar.PublicKey, e.Ballot.ID, v.Key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	other, err := ballot.NewTokenRequest(ballottest.Seeded(10), &e.Registrar.PublicKey, e.Ballot.ID, v.Key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := ballot.BlindSign(e.Registrar, other.Blinded)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := req.Finalize(wrong); !errors.Is(err, ballot.ErrTokenInvalid) {
		t.Fatalf("got %v, want ErrTokenInvalid", err)
	}
}

// The CRT signer gives the very signature RFC 9474's reference (circl,
// m^d mod n) gives, and the token it makes verifies; a blinded message at
// or above the modulus, or of the wrong size, is refused without a
// signature.
func TestBlindSignerWithCRTSignsAsTheReferenceAndRefusesOutOfRange(t *testing.T) {
	key := ballottest.RegistrarKey(ballot.KeyBits2048)
	s, err := ballot.NewBlindSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	rng := ballottest.Seeded(7)
	for i := range 20 {
		var id consensus.Hash
		id[0] = byte(i)
		voter := make([]byte, 32)
		voter[1] = byte(i)
		req, err := ballot.NewTokenRequest(rng, &key.PublicKey, id, voter)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Sign(req.Blinded)
		if err != nil {
			t.Fatal(err)
		}
		want, err := blindrsa.NewSigner(key).BlindSign(req.Blinded)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: the CRT signature differs from the reference", i)
		}
		tok, err := req.Finalize(got)
		if err != nil {
			t.Fatal(err)
		}
		if err := ballot.VerifyToken(&key.PublicKey, id, voter, tok.Prefix, tok.Signature); err != nil {
			t.Fatal(err)
		}
	}
	for name, blinded := range map[string][]byte{
		"all ones (above n)": bytes.Repeat([]byte{0xff}, key.Size()),
		"the modulus itself": key.N.Bytes(),
		"short":              make([]byte, key.Size()-1),
	} {
		if _, err := s.Sign(blinded); !errors.Is(err, ballot.ErrBlindedOutOfRange) {
			t.Errorf("%s: %v, want ErrBlindedOutOfRange", name, err)
		}
	}
}

// BenchmarkBlindSign compares the registrar's signing step: circl's
// reference (m^d mod n with math/big, what the registrar did before) and
// the constant-time CRT signer. Run: go test ./ballot -run '^$' -bench BlindSign
func BenchmarkBlindSign(b *testing.B) {
	key := ballottest.RegistrarKey(ballot.KeyBits2048)
	req, err := ballot.NewTokenRequest(ballottest.Seeded(8), &key.PublicKey, consensus.Hash{1}, make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("circl-reference", func(b *testing.B) {
		signer := blindrsa.NewSigner(key)
		for b.Loop() {
			if _, err := signer.BlindSign(req.Blinded); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crt-bigmod", func(b *testing.B) {
		signer, err := ballot.NewBlindSigner(key)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := signer.Sign(req.Blinded); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBlindSignFromKey is BlindSign as a registrar without a kept
// signer calls it: the CRT values prepared at every signature.
func BenchmarkBlindSignFromKey(b *testing.B) {
	key := ballottest.RegistrarKey(ballot.KeyBits2048)
	req, err := ballot.NewTokenRequest(ballottest.Seeded(8), &key.PublicKey, consensus.Hash{1}, make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ballot.BlindSign(key, req.Blinded); err != nil {
			b.Fatal(err)
		}
	}
}
