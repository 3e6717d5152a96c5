package consensus

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/cocorico/node/consensus/canon"
)

// Domain separation strings of a volunteer's signed statements
// (docs/PROTOCOL.md §Attestations and alarms).
const (
	DomainAttestation = "cocorico/v1/attestation"
	DomainAlarm       = "cocorico/v1/alarm"
)

// ErrAttestationInvalid: an attestation or alarm is malformed, of another
// chain, or its signature is wrong.
var ErrAttestationInvalid = errors.New("attestation invalid")

// ErrWitnessAhead: an attestation or alarm speaks of a height above the
// one the receiver can check yet; its signature was not checked.
var ErrWitnessAhead = errors.New("attestation or alarm far ahead")

// Attestation is a node's signed statement that it re-verified a final
// block in full: every transaction, the commit, and the app hash it
// recomputed after applying it (the results at Height, which the header
// at Height+1 carries). It proves that the holder of Node's key ran the
// checks; it does not prove that a person stands behind the key — one
// operator can run many nodes (docs/PROTOCOL.md §Attestations).
type Attestation struct {
	Genesis   Hash              `cbor:"1,keyasint" json:"genesis_hash"`
	Height    uint64            `cbor:"2,keyasint" json:"height"`
	BlockHash Hash              `cbor:"3,keyasint" json:"block_hash"`
	AppHash   Hash              `cbor:"4,keyasint" json:"app_hash"`
	Node      ed25519.PublicKey `cbor:"5,keyasint" json:"node"`
	Signature []byte            `cbor:"6,keyasint" json:"signature"`
}

// Alarm is a node's signed fault report: a final block whose commit is
// valid but which the node could not verify (a broken rule, or an app hash
// other than its own recomputation). Alarms travel on the attestations
// topic; an Alarm proves that Node's holder says so, not that it is right:
// anyone can check the claim against the block.
type Alarm struct {
	Genesis   Hash              `cbor:"1,keyasint" json:"genesis_hash"`
	Height    uint64            `cbor:"2,keyasint" json:"height"`
	BlockHash Hash              `cbor:"3,keyasint" json:"block_hash"`
	Failed    string            `cbor:"4,keyasint" json:"failed"`
	Node      ed25519.PublicKey `cbor:"5,keyasint" json:"node"`
	Signature []byte            `cbor:"6,keyasint" json:"signature"`
}

// MaxAlarmReason bounds an alarm's Failed text, in bytes.
const MaxAlarmReason = 512

type attestationSignDoc struct {
	Genesis   Hash              `cbor:"1,keyasint"`
	Height    uint64            `cbor:"2,keyasint"`
	BlockHash Hash              `cbor:"3,keyasint"`
	AppHash   Hash              `cbor:"4,keyasint"`
	Node      ed25519.PublicKey `cbor:"5,keyasint"`
}

type alarmSignDoc struct {
	Genesis   Hash              `cbor:"1,keyasint"`
	Height    uint64            `cbor:"2,keyasint"`
	BlockHash Hash              `cbor:"3,keyasint"`
	Failed    string            `cbor:"4,keyasint"`
	Node      ed25519.PublicKey `cbor:"5,keyasint"`
}

// SignBytes returns "cocorico/v1/attestation" ‖ canonical {genesis hash,
// height, block hash, app hash, node key}.
func (a *Attestation) SignBytes() []byte {
	doc := canon.MustMarshal(attestationSignDoc{a.Genesis, a.Height, a.BlockHash, a.AppHash, a.Node})
	return append([]byte(DomainAttestation), doc...)
}

// NewAttestation returns key's signed attestation of a block of chain.
func NewAttestation(chain Chain, height uint64, block, app Hash, key ed25519.PrivateKey) *Attestation {
	a := &Attestation{Genesis: chain.Genesis, Height: height, BlockHash: block, AppHash: app,
		Node: key.Public().(ed25519.PublicKey)}
	a.Signature = ed25519.Sign(key, a.SignBytes())
	return a
}

// Verify checks that a belongs to chain and carries its node's signature.
func (a *Attestation) Verify(chain Chain) error {
	switch {
	case a.Genesis != chain.Genesis:
		return fmt.Errorf("%w: genesis %s, this chain's is %s", ErrAttestationInvalid, a.Genesis.Short(), chain.Genesis.Short())
	case a.Height == 0:
		return fmt.Errorf("%w: height 0", ErrAttestationInvalid)
	case !VerifyEd25519(a.Node, a.SignBytes(), a.Signature):
		return fmt.Errorf("%w: bad signature at height %d", ErrAttestationInvalid, a.Height)
	}
	return nil
}

// SignBytes returns "cocorico/v1/alarm" ‖ canonical {genesis hash, height,
// block hash, what failed, node key}.
func (a *Alarm) SignBytes() []byte {
	doc := canon.MustMarshal(alarmSignDoc{a.Genesis, a.Height, a.BlockHash, a.Failed, a.Node})
	return append([]byte(DomainAlarm), doc...)
}

// NewAlarm returns key's signed fault report on a block of chain; failed
// is made valid UTF-8 (a CBOR text string) and cut to MaxAlarmReason
// bytes at a character boundary, so that every peer can decode it.
func NewAlarm(chain Chain, height uint64, block Hash, failed string, key ed25519.PrivateKey) *Alarm {
	failed = strings.ToValidUTF8(failed, "\uFFFD")
	if len(failed) > MaxAlarmReason {
		cut := MaxAlarmReason
		for cut > 0 && !utf8.RuneStart(failed[cut]) {
			cut--
		}
		failed = failed[:cut]
	}
	a := &Alarm{Genesis: chain.Genesis, Height: height, BlockHash: block, Failed: failed,
		Node: key.Public().(ed25519.PublicKey)}
	a.Signature = ed25519.Sign(key, a.SignBytes())
	return a
}

// Verify checks that a belongs to chain, says what failed, and carries its
// node's signature.
func (a *Alarm) Verify(chain Chain) error {
	switch {
	case a.Genesis != chain.Genesis:
		return fmt.Errorf("%w: alarm of genesis %s, this chain's is %s", ErrAttestationInvalid, a.Genesis.Short(), chain.Genesis.Short())
	case a.Height == 0:
		return fmt.Errorf("%w: alarm at height 0", ErrAttestationInvalid)
	case a.Failed == "" || len(a.Failed) > MaxAlarmReason:
		return fmt.Errorf("%w: alarm reason of %d bytes, want 1 to %d", ErrAttestationInvalid, len(a.Failed), MaxAlarmReason)
	case !VerifyEd25519(a.Node, a.SignBytes(), a.Signature):
		return fmt.Errorf("%w: bad alarm signature at height %d", ErrAttestationInvalid, a.Height)
	}
	return nil
}

// Witness is one message of the attestations topic: an attestation or an
// alarm, exactly one of the two.
type Witness struct {
	Attestation *Attestation `cbor:"1,keyasint,omitempty"`
	Alarm       *Alarm       `cbor:"2,keyasint,omitempty"`
}

// MaxWitness bounds an attestations-topic message, in bytes.
const MaxWitness = 1 << 10

// Encode returns w's canonical bytes.
func (w *Witness) Encode() []byte { return canon.MustMarshal(w) }

// DecodeWitness decodes an attestations-topic message and checks it
// (DomainAttestation or DomainAlarm signature, chain).
func DecodeWitness(data []byte, chain Chain) (*Witness, error) {
	return DecodeWitnessUpTo(data, chain, math.MaxUint64)
}

// DecodeWitnessUpTo is DecodeWitness for a receiver that can use heights
// up to maxHeight only: a witness of a height above it is returned with
// ErrWitnessAhead before its signature is checked, so that a flood of
// far-ahead messages costs no signature work.
func DecodeWitnessUpTo(data []byte, chain Chain, maxHeight uint64) (*Witness, error) {
	w, err := DecodeWitnessUnverified(data, maxHeight)
	if err != nil {
		return w, err
	}
	return w, w.Verify(chain)
}

// DecodeWitnessUnverified is DecodeWitnessUpTo without the checks of
// Verify (chain, height 0, the text's bounds, the signature): what a node
// reads of a witness to tell whether it could keep it at all, before it
// spends a signature check on it.
func DecodeWitnessUnverified(data []byte, maxHeight uint64) (*Witness, error) {
	var w Witness
	if err := canon.Unmarshal(data, &w, MaxWitness); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAttestationInvalid, err)
	}
	switch {
	case (w.Attestation == nil) == (w.Alarm == nil):
		return nil, fmt.Errorf("%w: want one attestation or one alarm", ErrAttestationInvalid)
	case w.Height() > maxHeight:
		return &w, fmt.Errorf("%w: height %d, at most %d", ErrWitnessAhead, w.Height(), maxHeight)
	}
	return &w, nil
}

// Verify checks the attestation or alarm w holds (Attestation.Verify,
// Alarm.Verify).
func (w *Witness) Verify(chain Chain) error {
	if w.Attestation != nil {
		return w.Attestation.Verify(chain)
	}
	return w.Alarm.Verify(chain)
}

// Height is the height w speaks of.
func (w *Witness) Height() uint64 {
	if w.Attestation != nil {
		return w.Attestation.Height
	}
	return w.Alarm.Height
}
