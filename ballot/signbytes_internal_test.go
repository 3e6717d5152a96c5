package ballot

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// castSignDoc is what a cast's signature covers, as the canonical encoder
// writes it through reflection: the reference of Cast.SignBytes.
type castSignDoc struct {
	Genesis consensus.Hash `cbor:"1,keyasint"`
	Cast    *Cast          `cbor:"2,keyasint"`
}

// SignBytesByReflection is what Cast.SignBytes returned before it wrote
// the fields itself.
func SignBytesByReflection(c *Cast, chain consensus.Chain) []byte {
	u := *c
	u.Signature = nil
	return append([]byte(DomainCast), canon.MustMarshal(castSignDoc{chain.Genesis, &u})...)
}

// randomCast returns a cast of any shape: nil, empty and long byte
// strings (each head length), integers at each head size, sealed or not,
// with or without a signature.
func randomCast(r *rand.Rand) *Cast {
	someBytes := func() []byte {
		switch r.IntN(6) {
		case 0:
			return nil
		case 1:
			return []byte{}
		case 2:
			return make([]byte, 1+r.IntN(23))
		case 3:
			return make([]byte, 24+r.IntN(232))
		case 4:
			return make([]byte, 256+r.IntN(1000))
		}
		return make([]byte, 65536+r.IntN(10))
	}
	someUint := func() uint64 {
		return []uint64{0, 23, 24, 255, 256, 65535, 65536, 1 << 32, 1<<64 - 1, r.Uint64()}[r.IntN(10)]
	}
	c := &Cast{Voter: someBytes(), Seq: someUint(), Choice: uint32(someUint()), Registrar: uint8(someUint()),
		TokenPrefix: someBytes(), Token: someBytes(), Sealed: someBytes(), Signature: someBytes()}
	for _, f := range [][]byte{c.BallotID[:], c.Voter, c.Token, c.Sealed, c.Signature} {
		for j := range f {
			f[j] = byte(r.Uint32())
		}
	}
	return c
}

// Every shape of a cast (randomCast).
func TestCastSignBytesAreTheCanonicalEncodersBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		c := randomCast(r)
		var chain consensus.Chain
		chain.Genesis[0], chain.Genesis[31] = byte(i), byte(i>>8)
		if got, want := c.SignBytes(chain), SignBytesByReflection(c, chain); !bytes.Equal(got, want) {
			t.Fatalf("cast %d (%+v):\n got %x\nwant %x", i, c, got, want)
		}
	}
}

// Cast.SignBytes writes the cast's fields by hand: a field added to Cast
// would be left out of what the voter signs (and the test above would not
// see it: its casts leave that field zero). So Cast's CBOR keys are
// pinned here; a new one must be written in SignBytes first.
func TestCastHasTheFieldsItsSignBytesWrite(t *testing.T) {
	var keys []string
	ct := reflect.TypeFor[Cast]()
	for i := range ct.NumField() {
		keys = append(keys, ct.Field(i).Name+":"+ct.Field(i).Tag.Get("cbor"))
	}
	want := []string{"BallotID:1,keyasint", "Voter:2,keyasint", "Seq:3,keyasint", "Choice:4,keyasint",
		"Registrar:5,keyasint", "TokenPrefix:6,keyasint", "Token:7,keyasint", "Sealed:8,keyasint,omitempty",
		"Signature:9,keyasint,omitempty"}
	if !slices.Equal(keys, want) {
		t.Fatalf("Cast's fields are %v; Cast.SignBytes writes %v: write the new ones there", keys, want)
	}
}

func BenchmarkCastSignBytes(b *testing.B) {
	c := &Cast{Voter: make([]byte, 32), Seq: 1, Choice: 1, TokenPrefix: make([]byte, TokenPrefixSize),
		Token: make([]byte, KeyBits2048/8), Signature: make([]byte, 64)}
	var chain consensus.Chain
	for _, how := range []struct {
		name string
		f    func(*Cast, consensus.Chain) []byte
	}{{"field by field", (*Cast).SignBytes}, {"by reflection", SignBytesByReflection}} {
		b.Run(how.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				how.f(c, chain)
			}
		})
	}
}
