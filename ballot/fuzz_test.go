package ballot_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// FuzzDecodeTx: no input panics the decoder or the checks after it,
// whatever decodes is canonical (re-encodes to the same bytes), a cast
// that DecodeTx's fast path takes decodes the same by reflection, and a
// cast's sign bytes are the canonical encoder's.
func FuzzDecodeTx(f *testing.F) {
	e := ballottest.NewElection(ballottest.Options{Seed: 50})
	st := ballot.NewMemState()
	b := ballot.NewBatch(st, testRules, 1, 1000)
	if err := b.Add(e.DefinitionTx()); err != nil {
		f.Fatal(err)
	}
	u, _ := b.Finish()
	st.Apply(u)
	f.Add((&ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, 0)}).Encode())
	f.Add((&ballot.Tx{Definition: e.Def}).Encode())
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ballot.SameDecoding(t, data) // what the fast path for casts takes, reflection decodes the same
		tx, err := ballot.DecodeTx(data, ballot.MaxTxBytes)
		if err != nil {
			return
		}
		if !bytes.Equal(tx.Encode(), data) {
			t.Fatal("decoded a non-canonical encoding")
		}
		if c := tx.Cast; c != nil && !bytes.Equal(c.SignBytes(e.Rules.Chain), ballot.SignBytesByReflection(c, e.Rules.Chain)) {
			t.Fatal("a cast's sign bytes differ from the canonical encoder's")
		}
		if _, err := ballot.Check(e.Rules, tx, data, st); err == nil && tx.Cast != nil {
			// Passing every check means it carries a real token and signature.
			if err := tx.Cast.Verify(e.Rules.Chain, e.Ballot); err != nil {
				t.Fatalf("checked cast fails Verify: %v", err)
			}
		}
	})
}

// FuzzDecodeDefinition: definition JSON as the API receives it never panics
// the checks.
func FuzzDecodeDefinition(f *testing.F) {
	e := ballottest.NewElection(ballottest.Options{Seed: 51})
	seed, _ := json.Marshal(e.Def)
	f.Add(seed)
	f.Add([]byte(`{"choices":["a","b"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d ballot.Definition
		if json.Unmarshal(data, &d) != nil {
			return
		}
		if b, err := d.Check(e.Rules); err == nil && b.ID != d.ID() {
			t.Fatal("checked ballot id differs from the definition id")
		}
	})
}

// FuzzDecodeReceipt: no receipt, however broken, panics the verifier, and a
// receipt that verifies is one whose checks all passed.
func FuzzDecodeReceipt(f *testing.F) {
	g, _ := ballottest.Validators("fuzz-chain", 4, 1)
	valid := fuzzReceipt(f)
	f.Add(valid)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ballot.DecodeReceipt(data)
		if err != nil {
			return
		}
		v := r.Verify(g)
		if v.Valid != (len(v.Failed()) == 0) {
			t.Fatal("valid flag disagrees with the checks")
		}
	})
}

func fuzzReceipt(f *testing.F) []byte {
	g, keys := ballottest.Validators("fuzz-chain", 4, 1)
	e := ballottest.NewElection(ballottest.Options{Genesis: g, Seed: 52})
	c := e.Cast(e.NewVoter(), 1, 1)
	tx := (&ballot.Tx{Cast: c}).Encode()
	root, proofs := consensusProofs([][]byte{tx})
	h := header(g.ChainID, 2, root, 1)
	r := ballot.NewReceipt(e.Def, c, h, proofs[0], ballottest.Commit(g.Chain(), keys, &h, 0))
	data, err := json.Marshal(r)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// FuzzDecodeJSON: the one strict JSON decoder (canon.DecodeJSON), on the
// protocol's inputs. Whatever it accepts re-encodes to the same tree, and
// decoding the re-encoding is accepted and gives an equal value: every
// accepted input has one meaning. kind picks the type read.
func FuzzDecodeJSON(f *testing.F) {
	e := ballottest.NewElection(ballottest.Options{Seed: 53})
	g, _ := ballottest.Validators("fuzz-chain", 4, 1)
	cast, _ := json.Marshal(e.Cast(e.NewVoter(), 1, 1))
	def, _ := json.Marshal(e.Def)
	batch, _ := json.Marshal(batchBody{Casts: []*ballot.Cast{e.Cast(e.NewVoter(), 1, 0), e.Cast(e.NewVoter(), 1, 2)}})
	seeds := [][]byte{fuzzReceipt(f), cast, def, g.JSON(), batch}
	for kind, s := range seeds {
		f.Add(uint8(kind), s)
	}
	f.Add(uint8(1), []byte(strings.Replace(string(cast), `"choice":1`, `"choice":0,"choice":1`, 1)))
	newValue := func(kind uint8) any {
		switch kind % 5 {
		case 0:
			return new(ballot.Receipt)
		case 1:
			return new(ballot.Cast)
		case 2:
			return new(ballot.Definition)
		case 3:
			return new(consensus.Genesis)
		}
		return new(batchBody)
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		v := newValue(kind)
		if canon.DecodeJSON(data, v, 1<<20) != nil {
			return
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted value does not encode: %v", err)
		}
		if !reflect.DeepEqual(genericTree(t, data), genericTree(t, again)) {
			t.Fatalf("accepted %s, which re-encodes to another tree %s", data, again)
		}
		w := newValue(kind)
		if err := canon.DecodeJSON(again, w, 1<<20); err != nil {
			t.Fatalf("the re-encoding %s is refused: %v", again, err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("decoding the re-encoding gave %+v, not %+v", w, v)
		}
	})
}

func genericTree(t *testing.T, data []byte) any {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// FuzzVerifyChunk: no input panics the chunk check, and only the chunk
// the manifest's root names passes it: any other bytes are refused
// (a chunk that passes is byte for byte what the validators hashed).
func FuzzVerifyChunk(f *testing.F) {
	fx := newSnapFixture(f)
	m := fx.manifest(f, 4)
	records := readChunks(f, fx.kv, m, ballot.ListRecords)
	results := readChunks(f, fx.kv, m, ballot.ListResults)
	f.Add(uint8(ballot.ListRecords), uint32(1), records[1])
	f.Add(uint8(ballot.ListRecords), uint32(len(records)-1), records[len(records)-1])
	f.Add(uint8(ballot.ListResults), uint32(0), results[0])
	f.Add(uint8(2), uint32(0), []byte{0x80})
	f.Fuzz(func(t *testing.T, list uint8, index uint32, data []byte) {
		_, err := ballot.VerifyChunk(m, list, index, data)
		if err == nil {
			want := results
			if list == ballot.ListRecords {
				want = records
			}
			if !bytes.Equal(data, want[index]) {
				t.Fatalf("chunk %d/%d passed with bytes that are not the snapshot's", list, index)
			}
		}
	})
}

// FuzzDecodeManifest: no input panics the manifest decoder, and what
// decodes is canonical and whole.
func FuzzDecodeManifest(f *testing.F) {
	fx := newSnapFixture(f)
	f.Add(fx.manifest(f, 4).Encode())
	f.Add(fx.manifest(f, 12).Encode())
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ballot.DecodeManifest(data)
		if err == nil && !bytes.Equal(m.Encode(), data) {
			t.Fatal("decoded a non-canonical manifest")
		}
	})
}
