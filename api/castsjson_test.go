package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus/canon"
)

// sameBatchDecoding fails t unless what BatchRequest's fast decoder
// takes of data, canon.DecodeJSON takes and decodes to the same casts,
// and data is what encoding/json writes for them; it reports whether the
// fast decoder took it.
func sameBatchDecoding(t testing.TB, data []byte) bool {
	t.Helper()
	var fast BatchRequest
	if !fast.decodeFastJSON(data) {
		return false
	}
	var slow BatchRequest
	if err := canon.DecodeJSON(data, &slow, len(data)); err != nil {
		t.Fatalf("the fast decoder took %s, which canon.DecodeJSON refuses: %v", data, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s decodes to\n%+v\nby hand and to\n%+v\nby canon.DecodeJSON", data, fast.Casts, slow.Casts)
	}
	if again, _ := json.Marshal(fast); !bytes.Equal(again, data) {
		t.Fatalf("the fast decoder took %s, not encoding/json's form of what it decoded (%s)", data, again)
	}
	return true
}

// randomJSONCast is a cast of any shape: nil, empty and long byte
// strings, integers at the bounds of their fields.
func randomJSONCast(r *rand.Rand) *ballot.Cast {
	someBytes := func() []byte {
		switch r.IntN(5) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, 1+r.IntN(300))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	someUint := func() uint64 {
		return []uint64{0, 1, 9, 10, 255, 256, 1<<32 - 1, 1 << 32, 1<<64 - 1, r.Uint64()}[r.IntN(10)]
	}
	c := &ballot.Cast{Voter: someBytes(), Seq: someUint(), Choice: uint32(someUint()), Registrar: uint8(someUint()),
		TokenPrefix: someBytes(), Token: someBytes(), Sealed: someBytes(), Signature: someBytes()}
	for i := range c.BallotID {
		c.BallotID[i] = byte(r.Uint32())
	}
	return c
}

// What the fast decoder of a batch of casts takes is what the strict
// decoder takes, decoded the same: batches of casts of every shape, and
// every batch damaged (a byte changed, cut short, a space or a byte
// added); every batch of casts of the usual shape is taken.
func TestABatchOfCastsDecodedByHandIsTheBatchTheStrictDecoderReads(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	usual, taken, damaged := 0, 0, 0
	for range 2000 {
		var req BatchRequest
		isUsual := true
		for range 1 + r.IntN(4) {
			c := randomJSONCast(r)
			if r.IntN(2) == 0 {
				for _, f := range []*[]byte{&c.Voter, &c.TokenPrefix, &c.Token, &c.Signature} {
					if len(*f) == 0 {
						*f = []byte{byte(r.Uint32())}
					}
				}
			}
			isUsual = isUsual && len(c.Voter) > 0 && len(c.TokenPrefix) > 0 && len(c.Token) > 0 && len(c.Signature) > 0
			req.Casts = append(req.Casts, c)
		}
		data, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		got := sameBatchDecoding(t, data)
		if isUsual {
			usual++
			if !got {
				t.Fatalf("a batch of casts of the usual shape was left to the strict decoder: %s", data)
			}
		}
		if got {
			taken++
		}
		for range 6 {
			d := append([]byte(nil), data...)
			switch at := r.IntN(len(d)); r.IntN(4) {
			case 0:
				d[at] ^= byte(1 + r.IntN(255))
			case 1:
				d = d[:at]
			case 2:
				d = append(d[:at], append([]byte(" "), d[at:]...)...)
			default:
				d = append(d[:at], append([]byte{byte(r.Uint32())}, d[at:]...)...)
			}
			if sameBatchDecoding(t, d) {
				damaged++
			}
		}
	}
	// Other forms of the same batch, and values out of range: never taken
	// (sameBatchDecoding fails the test if the strict decoder refuses one
	// that is).
	e := ballottest.NewElection(ballottest.Options{Seed: 7})
	data, _ := json.Marshal(BatchRequest{Casts: []*ballot.Cast{e.Cast(e.NewVoter(), 1, 0)}})
	for _, other := range [][]byte{
		bytes.Replace(data, []byte(`"seq":1`), []byte(`"seq":1.0`), 1),
		bytes.Replace(data, []byte(`"seq":1`), []byte(`"seq":01`), 1),
		bytes.Replace(data, []byte(`{"casts":`), []byte(`{ "casts":`), 1),
		bytes.Replace(data, []byte(`"voter":"`), []byte(`"voter":"\u0041`), 1),
		append(data, '\n'),
		// Integers too large for their field, which the strict decoder refuses.
		bytes.Replace(data, []byte(`"choice":0`), []byte(`"choice":4294967296`), 1),
		bytes.Replace(data, []byte(`"registrar":0`), []byte(`"registrar":256`), 1),
		bytes.Replace(data, []byte(`"seq":1`), []byte(`"seq":18446744073709551616`), 1),
	} {
		if bytes.Equal(other, data) {
			t.Fatalf("the test's other form is the same: %s", other)
		}
		if sameBatchDecoding(t, other) {
			t.Fatalf("taken by hand: %s", other)
		}
	}
	if !sameBatchDecoding(t, data) || usual < 500 {
		t.Fatalf("%d batches of the usual shape: the test tells little", usual)
	}
	t.Logf("%d batches of the usual shape, %d taken by hand, %d damaged ones taken (each read the same by the strict decoder)", usual, taken, damaged)
}

// FuzzBatchOfCastsJSON: whatever the fast decoder of a batch takes, the
// strict decoder reads the same.
func FuzzBatchOfCastsJSON(f *testing.F) {
	e := ballottest.NewElection(ballottest.Options{Seed: 8})
	data, _ := json.Marshal(BatchRequest{Casts: []*ballot.Cast{e.Cast(e.NewVoter(), 1, 0), e.Cast(e.NewVoter(), 2, 1)}})
	f.Add(data)
	f.Add([]byte(`{"casts":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) { sameBatchDecoding(t, data) })
}

// BenchmarkBatchOf100CastsFromJSON is what a node does with the body of
// POST /v1/casts/batch before it checks the casts: by hand, and by the
// strict decoder it replaced for the form encoding/json writes.
func BenchmarkBatchOf100CastsFromJSON(b *testing.B) {
	e := ballottest.NewElection(ballottest.Options{Seed: 63})
	var req BatchRequest
	for i := range 100 {
		req.Casts = append(req.Casts, e.Cast(e.NewVoter(), 1, uint32(i%3)))
	}
	data, _ := json.Marshal(req)
	for _, how := range []struct {
		name   string
		decode func(*BatchRequest) bool
	}{
		{"by hand", func(r *BatchRequest) bool { return r.decodeFastJSON(data) }},
		{"strict decoder", func(r *BatchRequest) bool { return canon.DecodeJSON(data, r, len(data)) == nil }},
	} {
		b.Run(how.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var r BatchRequest
				if !how.decode(&r) {
					b.Fatal("not decoded")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(req.Casts))/1000, "µs/cast")
		})
	}
}
