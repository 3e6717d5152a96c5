package ballot

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cocorico/node/consensus/canon"
)

// SameDecoding fails t unless what decodeCastTx accepts of data,
// decodeTxByReflection accepts and decodes to the same transaction; it
// reports whether decodeCastTx accepted it. (Exported for FuzzDecodeTx.)
func SameDecoding(t testing.TB, data []byte) bool {
	t.Helper()
	fast, ok := decodeCastTx(data)
	if !ok {
		return false
	}
	slow, err := decodeTxByReflection(data, len(data))
	if err != nil {
		t.Fatalf("decodeCastTx accepted %x, which the canonical decoder refuses: %v", data, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%x decodes to\n%+v\nby hand and to\n%+v\nby reflection", data, fast.Cast, slow.Cast)
	}
	return true
}

// The fast path decodes casts of every shape (randomCast) as the
// reflection decoder does, takes every cast of the usual shape (no empty
// or missing byte string but the seal) and no other, and what it takes of
// their damaged encodings the reflection decoder decodes the same.
func TestACastDecodedByHandIsTheCastDecodedByReflection(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	usual, taken, damaged := 0, 0, 0
	for range 3000 {
		c := randomCast(r)
		if c.BallotID[0]%3 == 0 { // the usual shape, a third of them
			for _, f := range []*[]byte{&c.Voter, &c.TokenPrefix, &c.Token, &c.Signature} {
				if len(*f) == 0 {
					*f = []byte{byte(r.Uint32())}
				}
			}
		}
		// (An empty seal is left out of the encoding: any seal is usual.)
		isUsual := len(c.Voter) > 0 && len(c.TokenPrefix) > 0 && len(c.Token) > 0 && len(c.Signature) > 0
		data := (&Tx{Cast: c}).Encode()
		got := SameDecoding(t, data)
		if got != isUsual {
			t.Fatalf("a cast of the usual shape %v, taken by hand %v: %+v", isUsual, got, c)
		}
		if isUsual {
			usual++
		}
		if got {
			taken++
		}
		// Damaged: a byte changed, cut short, a byte added.
		for range 4 {
			d := append([]byte(nil), data...)
			switch r.IntN(3) {
			case 0:
				d[r.IntN(len(d))] ^= byte(1 + r.IntN(255))
			case 1:
				d = d[:r.IntN(len(d))]
			default:
				d = append(d, byte(r.Uint32()))
			}
			if SameDecoding(t, d) {
				damaged++
			}
		}
	}
	// Integers too large for their field: refused by reflection, so never
	// taken by hand.
	type wideCast struct {
		BallotID  [32]byte `cbor:"1,keyasint"`
		Voter     []byte   `cbor:"2,keyasint"`
		Seq       uint64   `cbor:"3,keyasint"`
		Choice    uint64   `cbor:"4,keyasint"`
		Registrar uint64   `cbor:"5,keyasint"`
		Prefix    []byte   `cbor:"6,keyasint"`
		Token     []byte   `cbor:"7,keyasint"`
		Signature []byte   `cbor:"9,keyasint"`
	}
	one := []byte{1}
	for _, w := range []wideCast{{Choice: 1 << 32}, {Registrar: 256}, {Choice: 1<<64 - 1, Registrar: 1 << 40}} {
		w.Voter, w.Prefix, w.Token, w.Signature = one, one, one, one
		if SameDecoding(t, canon.MustMarshal(map[int]wideCast{2: w})) {
			t.Fatalf("choice %d, registrar %d: taken by hand", w.Choice, w.Registrar)
		}
	}
	if usual < 500 || taken != usual {
		t.Fatalf("%d casts of the usual shape, %d taken by hand: the test tells little", usual, taken)
	}
	t.Logf("%d casts of the usual shape, %d taken by hand, %d damaged encodings taken (each also a cast by reflection)", usual, taken, damaged)
}
