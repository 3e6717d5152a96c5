package consensus

import (
	"crypto/ed25519"

	"github.com/hdevalence/ed25519consensus"
)

// VerifyEd25519 reports whether sig is pub's Ed25519 signature of msg,
// by the rules of ZIP 215 (PROTOCOL.md §1): the cofactored equation
// [8][S]B = [8]R + [8][k]A, S canonical (below the group order), A and R
// any valid encoding of a curve point. They are the rules CometBFT took
// for the same reason: a batch of signatures verified at once and the
// same signatures verified one by one always agree, so that every node
// reaches the same verdict on a cast however it checks it. Every
// signature of the protocol (casts, definitions, votes) is checked here.
func VerifyEd25519(pub, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize &&
		ed25519consensus.Verify(pub, msg, sig)
}

// Ed25519Batch checks many signatures at once, by the rules of
// VerifyEd25519, at about half the cost of checking them one by one when
// they are all good. A batch with a bad signature is checked again one by
// one, to tell which. Not safe for concurrent use.
type Ed25519Batch struct {
	v     ed25519consensus.BatchVerifier
	items []ed25519Item
}

type ed25519Item struct{ pub, msg, sig []byte }

// NewEd25519Batch returns an empty batch sized for n signatures.
func NewEd25519Batch(n int) *Ed25519Batch {
	return &Ed25519Batch{v: ed25519consensus.NewPreallocatedBatchVerifier(n), items: make([]ed25519Item, 0, n)}
}

// Add queues a signature; its verdict is at the same index of Verify's
// answer.
func (b *Ed25519Batch) Add(pub, msg, sig []byte) {
	b.v.Add(pub, msg, sig)
	b.items = append(b.items, ed25519Item{pub, msg, sig})
}

// Verify returns each queued signature's verdict.
func (b *Ed25519Batch) Verify() []bool {
	ok := make([]bool, len(b.items))
	if len(b.items) == 0 {
		return ok
	}
	if len(b.items) > 1 && b.v.Verify() {
		for i := range ok {
			ok[i] = true
		}
		return ok
	}
	for i, it := range b.items {
		ok[i] = VerifyEd25519(it.pub, it.msg, it.sig)
	}
	return ok
}
