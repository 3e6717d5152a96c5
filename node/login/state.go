package login

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/cocorico/node/consensus"
)

// A login under way is kept by the browser, not by the registrar: the
// OAuth state is the login itself, sealed with a key of this registrar's.
// A table of logins under way (stop 31's design) was bounded, so a flood
// of starts from enough addresses pushed out every voter's login between
// start and callback; a sealed state cannot be pushed out, and survives a
// restart of the registrar (the key derives from its subject key). What
// the registrar remembers is only the states already used (spent), so
// that each is used once: forgetting one of those (the oldest, when
// MaxLogins are held) lets it be tried once more within its TTL, which
// needs a fresh code of the provider for the same PKCE challenge, that
// is, the same person logging in again.
//
// A state is base64url (no padding) of
//
//	nonce (12 random bytes) ‖ AES-256-GCM(nonce, r (16 random bytes) ‖
//	  expiry (8 bytes, big-endian Unix ms) ‖ ballot id (32 bytes) ‖
//	  return URL (the rest))
//
// sealed, not only signed: the state passes through the provider, which
// learns nothing of the ballot or the page. The PKCE verifier and the
// nonce derive from r: base64url of HMAC-SHA256(key, "verifier" ‖ r) and
// of HMAC-SHA256(key, "nonce" ‖ r); the verifier, never sent anywhere
// before the code exchange, is known only to whoever holds the key.
type sealedState struct {
	r       [stateRandBytes]byte
	expires time.Time
	ballot  consensus.Hash
	ret     string // the return URL as started, checked again at the callback
}

const (
	stateRandBytes = 16
	stateHead      = stateRandBytes + 8 + len(consensus.Hash{})
	// maxStateChars bounds a state read from a callback before any work:
	// the GCM nonce and tag, the head and a return URL of
	// registrar.CheckReturnURL's 2,048 bytes, in base64url.
	maxStateChars = (12 + 16 + stateHead + 2048 + 2) / 3 * 4
)

// stateAAD binds a sealed state to its use.
var stateAAD = []byte("cocorico/v1/login-state")

// stateKey derives the key of the states from the subject key, bound to
// the registrar's callback URL.
func stateKey(subjectKey []byte, redirectURL string) []byte {
	m := hmac.New(sha256.New, subjectKey)
	m.Write([]byte("cocorico/v1/login-state\x00"))
	m.Write([]byte(redirectURL))
	return m.Sum(nil)
}

// stateAEAD is the cipher of the states, under a key derived from key.
func stateAEAD(key []byte) cipher.AEAD {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("seal"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// seal returns s as a state, under the GCM nonce nonce.
func (l *Login) seal(s sealedState, nonce [12]byte) string {
	b := make([]byte, 0, stateHead+len(s.ret))
	b = append(b, s.r[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(s.expires.UnixMilli()))
	b = append(b, s.ballot[:]...)
	b = append(b, s.ret...)
	return base64.RawURLEncoding.EncodeToString(l.aead.Seal(nonce[:], nonce[:], b, stateAAD))
}

// open returns the state's login if this registrar sealed it and it has
// not expired at now.
func (l *Login) open(state string, now time.Time) (sealedState, bool) {
	if len(state) > maxStateChars {
		return sealedState{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil || len(b) < l.aead.NonceSize() {
		return sealedState{}, false
	}
	body, err := l.aead.Open(nil, b[:l.aead.NonceSize()], b[l.aead.NonceSize():], stateAAD)
	if err != nil || len(body) < stateHead {
		return sealedState{}, false
	}
	var s sealedState
	copy(s.r[:], body)
	s.expires = time.UnixMilli(int64(binary.BigEndian.Uint64(body[stateRandBytes:])))
	copy(s.ballot[:], body[stateRandBytes+8:])
	s.ret = string(body[stateHead:])
	if !now.Before(s.expires) {
		return sealedState{}, false
	}
	return s, true
}

// verifier is the login's PKCE code verifier (RFC 7636: 43 characters).
func (l *Login) verifier(s sealedState) string {
	return base64.RawURLEncoding.EncodeToString(l.mac("verifier", s.r[:]))
}

// nonce is the login's OpenID nonce.
func (l *Login) nonce(s sealedState) string {
	return base64.RawURLEncoding.EncodeToString(l.mac("nonce", s.r[:]))
}

func (l *Login) mac(label string, data []byte) []byte {
	m := hmac.New(sha256.New, l.stateKey)
	m.Write([]byte(label))
	m.Write(data)
	return m.Sum(nil)
}
