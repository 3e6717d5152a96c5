package ballot_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha512"
	"errors"
	"testing"

	"github.com/cloudflare/circl/blindsign/blindrsa"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
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
