package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"
	"github.com/cloudflare/circl/zk/dl"
)

// The suite of every encryption (RFC 9180 §7: KEM 0x0010, KDF 0x0001,
// AEAD 0x0001) and the group of every commitment and proof (the same curve).
var (
	suite  = hpke.NewSuite(hpke.KEM_P256_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM)
	scheme = hpke.KEM_P256_HKDF_SHA256.Scheme()
	g      = group.P256
)

// Sizes in bytes.
const (
	// PublicKeySize is an HPKE public key (an uncompressed P-256 point,
	// SEC 1 §2.3.3): a keykeeper's encryption key, the election key, the
	// enc of an HPKE message.
	PublicKeySize = 65
	// ElementSize is a compressed P-256 point: commitments, proof commitments.
	ElementSize = 33
	// ScalarSize is a P-256 scalar, big-endian: shares, secrets, proof responses.
	ScalarSize = 32
	tagSize    = 16
	// SealedSize is a sealed choice: enc ‖ proof V ‖ proof r ‖ AES-GCM of one byte.
	SealedSize = PublicKeySize + ElementSize + ScalarSize + 1 + tagSize
	// EncryptedShareSize is a dealer's share for one keykeeper: enc ‖
	// AES-GCM of a scalar.
	EncryptedShareSize = PublicKeySize + ScalarSize + tagSize
)

// Errors of the sealed-ballot cryptography.
var (
	// ErrMalformed: a key, point, scalar or ciphertext does not parse.
	ErrMalformed = errors.New("seal: malformed")
	// ErrProof: a proof of knowledge does not verify.
	ErrProof = errors.New("seal: proof invalid")
	// ErrDecrypt: a ciphertext does not decrypt under its context.
	ErrDecrypt = errors.New("seal: does not decrypt")
	// ErrShare: a share does not match the commitments.
	ErrShare = errors.New("seal: share does not match the commitments")
)

// NewKeyPair returns a fresh HPKE key pair (PublicKeySize, ScalarSize
// bytes) from rnd: a keykeeper's encryption key.
func NewKeyPair(rnd io.Reader) (pub, priv []byte, err error) {
	seed := make([]byte, scheme.SeedSize())
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, nil, err
	}
	pk, sk := scheme.DeriveKeyPair(seed)
	pub, _ = pk.MarshalBinary()
	priv, _ = sk.MarshalBinary()
	return pub, priv, nil
}

// CheckPublicKey reports whether b is an HPKE public key of the suite.
func CheckPublicKey(b []byte) error {
	if len(b) != PublicKeySize {
		return fmt.Errorf("%w: public key of %d bytes, want %d", ErrMalformed, len(b), PublicKeySize)
	}
	if _, err := scheme.UnmarshalBinaryPublicKey(b); err != nil {
		return fmt.Errorf("%w: public key: %v", ErrMalformed, err)
	}
	return nil
}

// encrypt is HPKE base-mode single-shot encryption whose ephemeral secret
// the caller gets back, for a proof of knowledge of it: the seed HPKE
// reads from rnd is read here first, and the ephemeral pair derived from
// it as HPKE's own Encap does (RFC 9180 §4.1, DeriveKeyPair).
func encrypt(rnd io.Reader, pub, info, pt, aad []byte) (enc, ct []byte, eph group.Scalar, err error) {
	pk, err := scheme.UnmarshalBinaryPublicKey(pub)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: public key: %v", ErrMalformed, err)
	}
	seed := make([]byte, scheme.EncapsulationSeedSize())
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, nil, nil, err
	}
	_, skE := scheme.DeriveKeyPair(seed)
	sender, err := suite.NewSender(pk, info)
	if err != nil {
		return nil, nil, nil, err
	}
	enc, sealer, err := sender.Setup(bytes.NewReader(seed))
	if err != nil {
		return nil, nil, nil, err
	}
	if ct, err = sealer.Seal(pt, aad); err != nil {
		return nil, nil, nil, err
	}
	raw, _ := skE.MarshalBinary()
	eph = g.NewScalar()
	if err := eph.UnmarshalBinary(raw); err != nil {
		return nil, nil, nil, err
	}
	return enc, ct, eph, nil
}

// decrypt is HPKE base-mode single-shot decryption.
func decrypt(sk kem.PrivateKey, info, enc, ct, aad []byte) ([]byte, error) {
	r, err := suite.NewReceiver(sk, info)
	if err != nil {
		return nil, err
	}
	o, err := r.Setup(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	pt, err := o.Open(ct, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// PrivateKey parses an HPKE private key (a scalar, ScalarSize bytes).
func PrivateKey(b []byte) (kem.PrivateKey, error) {
	sk, err := scheme.UnmarshalBinaryPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrMalformed, err)
	}
	return sk, nil
}

// Context binds a sealed choice to its cast: Info is the HPKE info (the
// chain and the ballot), Voter and Seq name the cast. The AEAD's associated
// data and the proof's user id are Voter ‖ Seq, so that a ciphertext lifted
// into another cast neither proves nor decrypts.
type Context struct {
	Info  []byte
	Voter []byte
	Seq   uint64
}

func (c Context) cast() []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), c.Voter...), c.Seq)
}

// SealChoice encrypts one choice to the election key with HPKE, with a
// Schnorr proof of knowledge of the ephemeral secret bound to the cast: a
// sealed choice is non-malleable and cannot be copied into another cast
// (docs/PROTOCOL.md §19.3). The result has SealedSize bytes.
func SealChoice(rnd io.Reader, electionKey []byte, ctx Context, choice uint8) ([]byte, error) {
	enc, ct, eph, err := encrypt(rnd, electionKey, ctx.Info, []byte{choice}, ctx.cast())
	if err != nil {
		return nil, err
	}
	E := g.NewElement()
	if err := E.UnmarshalBinary(enc); err != nil {
		return nil, err
	}
	p := dl.Prove(g, g.Generator(), E, eph, ctx.cast(), ctx.Info, rnd)
	v, _ := p.V.MarshalBinaryCompress()
	r, _ := p.R.MarshalBinary()
	out := make([]byte, 0, SealedSize)
	out = append(append(append(append(out, enc...), v...), r...), ct...)
	return out, nil
}

// VerifySealed checks a sealed choice's size and its proof against the
// cast's context: what every node checks of a sealed cast before it can
// decrypt it.
func VerifySealed(sealed []byte, ctx Context) error {
	if len(sealed) != SealedSize {
		return fmt.Errorf("%w: sealed choice of %d bytes, want %d", ErrMalformed, len(sealed), SealedSize)
	}
	E, V := g.NewElement(), g.NewElement()
	r := g.NewScalar()
	if E.UnmarshalBinary(sealed[:PublicKeySize]) != nil ||
		V.UnmarshalBinary(sealed[PublicKeySize:PublicKeySize+ElementSize]) != nil ||
		r.UnmarshalBinary(sealed[PublicKeySize+ElementSize:PublicKeySize+ElementSize+ScalarSize]) != nil {
		return fmt.Errorf("%w: sealed choice", ErrMalformed)
	}
	if !dl.Verify(g, g.Generator(), E, dl.Proof{V: V, R: r}, ctx.cast(), ctx.Info) {
		return ErrProof
	}
	return nil
}

// OpenChoice decrypts a sealed choice with the election secret (as an
// HPKE private key). It does not check the proof: VerifySealed did when
// the cast was admitted.
func OpenChoice(secret kem.PrivateKey, sealed []byte, ctx Context) (uint8, error) {
	if len(sealed) != SealedSize {
		return 0, fmt.Errorf("%w: sealed choice of %d bytes", ErrMalformed, len(sealed))
	}
	pt, err := decrypt(secret, ctx.Info, sealed[:PublicKeySize], sealed[PublicKeySize+ElementSize+ScalarSize:], ctx.cast())
	if err != nil {
		return 0, err
	}
	if len(pt) != 1 {
		return 0, ErrDecrypt
	}
	return pt[0], nil
}
