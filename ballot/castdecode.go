package ballot

import (
	"math"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// decodeCastTx decodes data if it is the canonical encoding of a
// transaction holding a cast of the usual shape (every byte string
// present and not empty), as every cast a voter makes is: {2: {1: ballot,
// 2: voter, 3: seq, 4: choice, 5: registrar, 6: token prefix, 7: token,
// [8: sealed,] 9: signature}}, keys in order, heads in their shortest
// form, nothing after. Anything else, it leaves to decodeTxByReflection
// (ok false): an error there is named as it always was, and a cast of an
// odd shape (an empty or null byte string, no signature) is decoded
// there too.
//
// Every node decodes every cast it receives, in blocks and in gossip;
// canon.Unmarshal decodes through reflection and re-encodes to check the
// form, two to three times the time of this (BenchmarkDecodeBlockOfCasts,
// the block's own decoding included). What this accepts,
// decodeTxByReflection accepts and decodes to the same cast: a test holds
// them equal over casts of every shape, and FuzzDecodeTx over whatever it
// finds.
func decodeCastTx(data []byte) (*Tx, bool) {
	if len(data) < 3 || data[0] != 0xa1 || data[1] != 0x02 { // {2: map}
		return nil, false
	}
	fields, rest, ok := canon.ReadHead(data[2:], canon.MajorMap)
	if !ok || fields < 8 || fields > 9 {
		return nil, false
	}
	f := castFields{rest: rest, ok: true}
	id, voter := f.bytes(1), f.bytes(2)
	seq, choice, registrar := f.uint(3, math.MaxUint64), f.uint(4, math.MaxUint32), f.uint(5, math.MaxUint8)
	prefix, token := f.bytes(6), f.bytes(7)
	var sealed []byte
	if fields == 9 {
		sealed = f.bytes(8)
	}
	sig := f.bytes(9)
	if !f.ok || len(f.rest) != 0 || len(id) != consensus.HashSize {
		return nil, false
	}
	c := &Cast{Seq: seq, Choice: uint32(choice), Registrar: uint8(registrar)}
	copy(c.BallotID[:], id)
	// The byte strings in one allocation.
	buf := make([]byte, 0, len(voter)+len(prefix)+len(token)+len(sealed)+len(sig))
	take := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		at := len(buf)
		buf = append(buf, b...)
		return buf[at:len(buf):len(buf)]
	}
	c.Voter, c.TokenPrefix, c.Token, c.Sealed, c.Signature = take(voter), take(prefix), take(token), take(sealed), take(sig)
	return &Tx{Cast: c}, true
}

// castFields reads a cast's fields in order from rest, each a key and its
// value; ok turns false at the first that is not what is expected, and
// stays so.
type castFields struct {
	rest []byte
	ok   bool
}

func (f *castFields) key(k byte) bool {
	f.ok = f.ok && len(f.rest) > 0 && f.rest[0] == k
	if f.ok {
		f.rest = f.rest[1:]
	}
	return f.ok
}

// bytes reads key k and a byte string that is not empty (a slice of rest).
func (f *castFields) bytes(k byte) []byte {
	if !f.key(k) {
		return nil
	}
	n, rest, ok := canon.ReadHead(f.rest, canon.MajorBytes)
	if f.ok = ok && n > 0 && n <= uint64(len(rest)); !f.ok {
		return nil
	}
	b := rest[:n]
	f.rest = rest[n:]
	return b
}

// uint reads key k and an unsigned integer of at most max.
func (f *castFields) uint(k byte, max uint64) uint64 {
	if !f.key(k) {
		return 0
	}
	n, rest, ok := canon.ReadHead(f.rest, canon.MajorUint)
	if f.ok = ok && n <= max; !f.ok {
		return 0
	}
	f.rest = rest
	return n
}
