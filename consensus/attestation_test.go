package consensus

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAttestationVerifiesAndAnyChangeBreaksIt(t *testing.T) {
	g, keys := testChain(1)
	chain := g.Chain()
	a := NewAttestation(chain, 7, Hash{1}, Hash{2}, keys[0])
	if err := a.Verify(chain); err != nil {
		t.Fatal(err)
	}
	other, _ := testChain(2)
	changes := map[string]func(a *Attestation){
		"height":        func(a *Attestation) { a.Height++ },
		"block":         func(a *Attestation) { a.BlockHash[0] ^= 1 },
		"app hash":      func(a *Attestation) { a.AppHash[0] ^= 1 },
		"node":          func(a *Attestation) { a.Node = ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey) },
		"signature":     func(a *Attestation) { a.Signature[0] ^= 1 },
		"height 0":      func(a *Attestation) { a.Height = 0 },
		"other genesis": func(a *Attestation) { a.Genesis = other.Hash() },
	}
	for name, change := range changes {
		b := *a
		b.Signature = bytes.Clone(a.Signature)
		change(&b)
		if err := b.Verify(chain); !errors.Is(err, ErrAttestationInvalid) {
			t.Errorf("%s changed: %v, want ErrAttestationInvalid", name, err)
		}
	}
}

func TestAttestationSignBytesStartWithItsDomain(t *testing.T) {
	g, keys := testChain(1)
	a := NewAttestation(g.Chain(), 1, Hash{}, Hash{}, keys[0])
	if !bytes.HasPrefix(a.SignBytes(), []byte("cocorico/v1/attestation")) {
		t.Fatalf("sign bytes %x", a.SignBytes())
	}
	al := NewAlarm(g.Chain(), 1, Hash{}, "app hash", keys[0])
	if !bytes.HasPrefix(al.SignBytes(), []byte("cocorico/v1/alarm")) {
		t.Fatalf("sign bytes %x", al.SignBytes())
	}
	// An attestation's signature is no alarm's: the domains differ.
	al.Signature = a.Signature
	if err := al.Verify(g.Chain()); err == nil {
		t.Fatal("an attestation's signature passed as an alarm's")
	}
}

func TestWitnessCarriesExactlyOneStatementOfThisChain(t *testing.T) {
	g, keys := testChain(1)
	chain := g.Chain()
	a := NewAttestation(chain, 3, Hash{1}, Hash{2}, keys[0])
	al := NewAlarm(chain, 3, Hash{1}, strings.Repeat("x", MaxAlarmReason+10), keys[0])
	if len(al.Failed) != MaxAlarmReason {
		t.Fatalf("reason of %d bytes", len(al.Failed))
	}
	for _, w := range []*Witness{{Attestation: a}, {Alarm: al}} {
		got, err := DecodeWitness(w.Encode(), chain)
		if err != nil || got.Height() != 3 {
			t.Fatalf("decode: %v %v", got, err)
		}
	}
	for name, w := range map[string]*Witness{"none": {}, "both": {Attestation: a, Alarm: al}} {
		if _, err := DecodeWitness(w.Encode(), chain); !errors.Is(err, ErrAttestationInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	other, _ := testChain(2)
	if _, err := DecodeWitness((&Witness{Attestation: a}).Encode(), other.Chain()); !errors.Is(err, ErrAttestationInvalid) {
		t.Errorf("other chain: %v", err)
	}
	if _, err := DecodeWitness(make([]byte, MaxWitness+1), chain); !errors.Is(err, ErrAttestationInvalid) {
		t.Errorf("oversize: %v", err)
	}
	// Above the receiver's reach, a witness is set aside before its
	// signature is checked: a forged one is not even verified; within
	// reach it is.
	forged := *a
	forged.Signature = append([]byte(nil), a.Signature...)
	forged.Signature[0] ^= 1
	if _, err := DecodeWitnessUpTo((&Witness{Attestation: &forged}).Encode(), chain, 2); !errors.Is(err, ErrWitnessAhead) {
		t.Errorf("a forged attestation of height 3 for a receiver up to 2: %v, want ErrWitnessAhead", err)
	}
	if _, err := DecodeWitnessUpTo((&Witness{Attestation: &forged}).Encode(), chain, 3); !errors.Is(err, ErrAttestationInvalid) {
		t.Errorf("a forged attestation of height 3 for a receiver up to 3: %v, want ErrAttestationInvalid", err)
	}
}

// A reason cut inside a character, or not UTF-8 at all, would be a CBOR
// text no peer decodes: the alarm would never spread.
func TestAlarmWithALongOrInvalidUTF8ReasonStillDecodesEverywhere(t *testing.T) {
	g, keys := testChain(1)
	chain := g.Chain()
	for name, failed := range map[string]string{
		"cut inside é":  strings.Repeat("a", MaxAlarmReason-1) + "é and more",
		"cut inside 🐓":  strings.Repeat("a", MaxAlarmReason-2) + "🐓",
		"invalid UTF-8": "app hash \xff\xfe mismatch",
	} {
		al := NewAlarm(chain, 3, Hash{1}, failed, keys[0])
		if len(al.Failed) > MaxAlarmReason || !utf8.ValidString(al.Failed) {
			t.Fatalf("%s: reason of %d bytes, valid UTF-8 %v", name, len(al.Failed), utf8.ValidString(al.Failed))
		}
		if _, err := DecodeWitness((&Witness{Alarm: al}).Encode(), chain); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
