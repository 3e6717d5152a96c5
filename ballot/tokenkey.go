package ballot

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/binary"
	"hash"

	"filippo.io/bigmod"

	"github.com/cocorico/node/consensus"
)

// tokenKey is a registrar key made ready to verify tokens: its modulus in
// the form modular arithmetic needs (R² mod n and the Montgomery
// constant) computed once, when the ballot is parsed. Go's rsa.VerifyPSS
// computes it again for every signature, a third of an RSA-2048
// verification and a sixth of a cast's. The verification itself is
// RFC 8017 §8.1.2 and §9.1.2 (RSAVP1, EMSA-PSS-VERIFY) with the token's
// fixed parameters, the same verdict as VerifyToken's for every input
// (TestTokenKeyAgreesWithTheStandardLibrary). Safe for concurrent use.
type tokenKey struct {
	n      *bigmod.Modulus
	e      uint
	size   int // bytes of n
	emBits int // bits of n, less one
}

func newTokenKey(k *rsa.PublicKey) (*tokenKey, error) {
	n, err := bigmod.NewModulus(k.N.Bytes())
	if err != nil {
		return nil, err
	}
	return &tokenKey{n: n, e: uint(k.E), size: k.Size(), emBits: k.N.BitLen() - 1}, nil
}

// verify checks an RSASSA-PSS signature (SHA-384, MGF1-SHA-384, salt of
// pssOptions.SaltLength bytes) over the message whose SHA-384 is digest.
func (k *tokenKey) verify(digest, sig []byte) bool {
	if len(sig) != k.size {
		return false
	}
	s, err := bigmod.NewNat().SetBytes(sig, k.n) // refuses s ≥ n
	if err != nil {
		return false
	}
	em := bigmod.NewNat().ExpShortVarTime(s, k.e, k.n).Bytes(k.n)
	emLen := (k.emBits + 7) / 8
	for len(em) > emLen { // a modulus of 8·m+1 bits: the first byte must be 0
		if em[0] != 0 {
			return false
		}
		em = em[1:]
	}
	return emsaPSSVerify(digest, em, k.emBits, pssOptions.SaltLength, sha512.New384())
}

// emsaPSSVerify is RFC 8017 §9.1.2 for a known salt length.
func emsaPSSVerify(mHash, em []byte, emBits, sLen int, h hash.Hash) bool {
	hLen := h.Size()
	emLen := len(em)
	if len(mHash) != hLen || emLen < hLen+sLen+2 || em[emLen-1] != 0xbc {
		return false
	}
	db := bytes.Clone(em[:emLen-hLen-1])
	hh := em[emLen-hLen-1 : emLen-1]
	bitMask := byte(0xff >> (8*emLen - emBits))
	if db[0]&^bitMask != 0 {
		return false
	}
	mgf1XOR(db, h, hh)
	db[0] &= bitMask
	psLen := emLen - hLen - sLen - 2
	for _, b := range db[:psLen] {
		if b != 0 {
			return false
		}
	}
	if db[psLen] != 0x01 {
		return false
	}
	salt := db[len(db)-sLen:]
	h.Reset()
	var zeros [8]byte
	h.Write(zeros[:])
	h.Write(mHash)
	h.Write(salt)
	return bytes.Equal(h.Sum(nil), hh)
}

// mgf1XOR xors out with MGF1(seed, len(out)) over h (RFC 8017 §B.2.1).
func mgf1XOR(out []byte, h hash.Hash, seed []byte) {
	var counter [4]byte
	var digest []byte
	for done := 0; done < len(out); {
		h.Reset()
		h.Write(seed)
		h.Write(counter[:])
		digest = h.Sum(digest[:0])
		done += subtleXOR(out[done:], digest)
		binary.BigEndian.PutUint32(counter[:], binary.BigEndian.Uint32(counter[:])+1)
	}
}

// subtleXOR xors dst with src over their common length, which it returns.
func subtleXOR(dst, src []byte) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] ^= src[i]
	}
	return n
}

// tokenDigest is the SHA-384 of prefix ‖ TokenMessage(ballotID, voter),
// the digest a token signs.
func tokenDigest(ballotID consensus.Hash, voter []byte, prefix []byte) []byte {
	h := sha512.New384()
	h.Write(prefix)
	h.Write([]byte(DomainToken))
	h.Write(ballotID[:])
	h.Write(voter)
	return h.Sum(nil)
}
