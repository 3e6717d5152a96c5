package ballot_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha512"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
)

// A ballot verifies its casts' tokens with the registrar key prepared
// once (ballot.tokenKey, its own EMSA-PSS-VERIFY); crypto/rsa's VerifyPSS
// (ballot.VerifyToken) is the reference. Both give the same verdict on
// valid tokens and on signatures made, with the registrar's private key,
// over encodings wrong in each step of RFC 8017 §9.1.2 in turn, and on
// integers at and beyond the modulus.
func TestTokenKeyAgreesWithTheStandardLibrary(t *testing.T) {
	for _, bits := range []int{ballot.KeyBits2048, ballot.KeyBits3072} {
		e := ballottest.NewElection(ballottest.Options{KeyBits: bits, Seed: 5})
		v := e.NewVoter()
		voter := v.Key.Public().(ed25519.PublicKey)
		prepared := append(append([]byte(nil), v.Token.Prefix...), ballot.TokenMessage(e.Ballot.ID, voter)...)
		digest := sha512.Sum384(prepared)
		key := e.Registrar
		size := key.Size()
		raw := func(em []byte) []byte { // s = em^d mod n, as the registrar signs
			return new(big.Int).Exp(new(big.Int).SetBytes(em), key.D, key.N).FillBytes(make([]byte, size))
		}
		n := key.N.FillBytes(make([]byte, size))
		nMinus1 := new(big.Int).Sub(key.N, big.NewInt(1)).FillBytes(make([]byte, size))
		cases := map[string][]byte{
			"the token":          v.Token.Signature,
			"salt of 32 bytes":   raw(pssEncode(digest[:], bits-1, 32, 0)),
			"salt of 48 bytes":   raw(pssEncode(digest[:], bits-1, 48, 0)),
			"trailer not 0xbc":   raw(pssEncode(digest[:], bits-1, 48, wrongTrailer)),
			"top bit set":        raw(pssEncode(digest[:], bits-1, 48, topBit)),
			"padding not zero":   raw(pssEncode(digest[:], bits-1, 48, paddingByte)),
			"no 0x01 separator":  raw(pssEncode(digest[:], bits-1, 48, noSeparator)),
			"hash of another":    raw(pssEncode(make([]byte, 48), bits-1, 48, 0)),
			"zero":               make([]byte, size),
			"the modulus":        n,
			"the modulus less 1": nMinus1,
			"all ones":           bytesOf(size, 0xff),
		}
		for bit := 0; bit < 8*size; bit += 97 {
			s := append([]byte(nil), v.Token.Signature...)
			s[bit/8] ^= 1 << (bit % 8)
			cases[fmt.Sprintf("bit %d flipped", bit)] = s
		}
		for name, sig := range cases {
			std := rsa.VerifyPSS(&key.PublicKey, crypto.SHA384, digest[:], sig, &rsa.PSSOptions{SaltLength: 48, Hash: crypto.SHA384}) == nil
			c := e.Cast(v, 1, 0)
			c.Token = sig
			c.Sign(e.Rules.Chain, v.Key)
			err := c.Verify(e.Rules.Chain, e.Ballot)
			if mine := err == nil; mine != std || (!mine && !errors.Is(err, ballot.ErrTokenInvalid)) {
				t.Errorf("RSA-%d, %s: the ballot's verdict %v (%v), crypto/rsa's %v", bits, name, mine, err, std)
			}
			if want := name == "the token" || name == "salt of 48 bytes"; std != want {
				t.Fatalf("RSA-%d, %s: crypto/rsa says %v, want %v: the case does not test what it says", bits, name, std, want)
			}
		}
	}
}

// Ways pssEncode can get an encoding wrong.
const (
	wrongTrailer = 1 + iota
	topBit
	paddingByte
	noSeparator
)

// pssEncode is RFC 8017 §9.1.1 with SHA-384 and a zero salt of sLen
// bytes, with one fault if asked.
func pssEncode(mHash []byte, emBits, sLen, fault int) []byte {
	emLen := (emBits + 7) / 8
	hLen := 48
	salt := make([]byte, sLen)
	h := sha512.New384()
	h.Write(make([]byte, 8))
	h.Write(mHash)
	h.Write(salt)
	hh := h.Sum(nil)
	db := make([]byte, emLen-hLen-1)
	sep := len(db) - sLen - 1
	db[sep] = 0x01
	if fault == noSeparator {
		db[sep] = 0x02
	}
	if fault == paddingByte {
		db[sep-1] = 0x07
	}
	copy(db[sep+1:], salt)
	mask := make([]byte, len(db))
	var counter [4]byte
	for done := 0; done < len(mask); counter[3]++ {
		h.Reset()
		h.Write(hh)
		h.Write(counter[:])
		done += copy(mask[done:], h.Sum(nil))
	}
	for i := range db {
		db[i] ^= mask[i]
	}
	db[0] &= 0xff >> (8*emLen - emBits)
	if fault == topBit {
		db[0] |= 0x80 >> (8*emLen - emBits - 1) // a bit above emBits... or the top bit itself
	}
	em := append(append(db, hh...), 0xbc)
	if fault == wrongTrailer {
		em[len(em)-1] = 0xbd
	}
	return em
}

func bytesOf(n int, b byte) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return s
}
