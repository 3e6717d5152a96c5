package ballot_test

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

func TestValidCastPassesEveryStatelessCheck(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 10})
	c := e.Cast(e.NewVoter(), 1, 2)
	st := ballot.NewMemState()
	applyBlock(t, st, 1, 1000, e.DefinitionTx())
	data := (&ballot.Tx{Cast: c}).Encode()
	checked, err := ballot.CheckTx(e.Rules, data, ballot.MaxTxBytes, st)
	if err != nil {
		t.Fatal(err)
	}
	if checked.ID != c.ID() || checked.Cast.Choice != 2 {
		t.Fatalf("checked %+v", checked)
	}
}

// Each way a cast can be invalid statelessly, with the error value that names it.
func TestInvalidCastsAreRejectedWithTheirError(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 11})
	other := ballottest.NewElection(ballottest.Options{Seed: 12})
	v, w := e.NewVoter(), e.NewVoter()
	cases := map[string]struct {
		cast func() *ballot.Cast
		want error
	}{
		"forged token": {func() *ballot.Cast {
			c := e.Cast(v, 1, 0)
			c.Token = append([]byte(nil), c.Token...)
			c.Token[100] ^= 1
			c.Sign(e.Rules.Chain, v.Key)
			return c
		}, ballot.ErrTokenInvalid},
		"token for another ballot": {func() *ballot.Cast {
			u := other.NewVoter()
			c := e.Cast(&ballottest.Voter{Key: u.Key, Token: u.Token}, 1, 0)
			return c
		}, ballot.ErrTokenInvalid},
		"token for another voter key": {func() *ballot.Cast {
			return e.Cast(&ballottest.Voter{Key: w.Key, Token: v.Token}, 1, 0)
		}, ballot.ErrTokenInvalid},
		"bad voter signature": {func() *ballot.Cast {
			c := e.Cast(v, 1, 0)
			c.Signature = append([]byte(nil), c.Signature...)
			c.Signature[3] ^= 1
			return c
		}, ballot.ErrVoterSignature},
		"signed for a relaunched chain of the same name": {func() *ballot.Cast {
			c := e.Cast(v, 1, 0)
			c.Sign(consensus.Chain{ID: e.ChainID, Genesis: consensus.Sum([]byte("a relaunch"))}, v.Key)
			return c
		}, ballot.ErrVoterSignature},
		"choice changed after signing": {func() *ballot.Cast {
			c := e.Cast(v, 1, 0)
			c.Choice = 1
			return c
		}, ballot.ErrVoterSignature},
		"choice out of range": {func() *ballot.Cast { return e.Cast(v, 1, 3) }, ballot.ErrChoiceOutOfRange},
		"unknown registrar": {func() *ballot.Cast {
			c := e.Cast(v, 1, 0)
			c.Registrar = 1
			c.Sign(e.Rules.Chain, v.Key)
			return c
		}, ballot.ErrUnknownRegistrar},
		"seq zero":          {func() *ballot.Cast { return e.Cast(v, 0, 0) }, ballot.ErrCastInvalid},
		"short voter key":   {func() *ballot.Cast { c := e.Cast(v, 1, 0); c.Voter = c.Voter[:31]; return c }, ballot.ErrCastInvalid},
		"short prefix":      {func() *ballot.Cast { c := e.Cast(v, 1, 0); c.TokenPrefix = c.TokenPrefix[:16]; return c }, ballot.ErrCastInvalid},
		"odd token size":    {func() *ballot.Cast { c := e.Cast(v, 1, 0); c.Token = c.Token[:200]; return c }, ballot.ErrCastInvalid},
		"no signature":      {func() *ballot.Cast { c := e.Cast(v, 1, 0); c.Signature = nil; return c }, ballot.ErrCastInvalid},
		"sealed choice":     {func() *ballot.Cast { c := e.Cast(v, 1, 0); c.Sealed = []byte{1}; return c }, ballot.ErrSealedInvalid},
		"no ballot id":      {func() *ballot.Cast { c := e.Cast(v, 1, 0); c.BallotID = consensus.Hash{}; return c }, ballot.ErrCastInvalid},
		"unknown ballot id": {func() *ballot.Cast { c := e.Cast(v, 1, 0); c.BallotID[0] ^= 1; return c }, ballot.ErrUnknownBallot},
	}
	st := ballot.NewMemState()
	applyBlock(t, st, 1, 1000, e.DefinitionTx(), other.DefinitionTx())
	// One batch of every bad cast, each between two good ones: CheckBatch
	// must give each the verdict Check gives it alone.
	var txs []*ballot.Tx
	var data [][]byte
	var want []error
	add := func(c *ballot.Cast, err error) {
		tx := &ballot.Tx{Cast: c}
		txs, data, want = append(txs, tx), append(data, tx.Encode()), append(want, err)
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := tc.cast()
			data := (&ballot.Tx{Cast: c}).Encode()
			if _, err := ballot.CheckTx(e.Rules, data, ballot.MaxTxBytes, st); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			add(e.Cast(e.NewVoter(), 1, 0), nil)
			add(c, tc.want)
		})
	}
	add(e.Cast(e.NewVoter(), 1, 2), nil)
	checked, errs := ballot.CheckBatch(e.Rules, txs, data, st)
	for i := range txs {
		switch {
		case want[i] == nil && (errs[i] != nil || checked[i] == nil || checked[i].ID != txs[i].Cast.ID()):
			t.Errorf("batch item %d, a good cast: %v", i, errs[i])
		case want[i] != nil && (!errors.Is(errs[i], want[i]) || checked[i] != nil):
			t.Errorf("batch item %d: got %v, want %v", i, errs[i], want[i])
		}
	}
}

func TestCheckBatchOfGoodCastsAcceptsEveryOne(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 13})
	st := ballot.NewMemState()
	applyBlock(t, st, 1, 1000, e.DefinitionTx())
	var txs []*ballot.Tx
	var data [][]byte
	for i := range 100 {
		tx := &ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, uint32(i%3))}
		txs, data = append(txs, tx), append(data, tx.Encode())
	}
	checked, errs := ballot.CheckBatch(e.Rules, txs, data, st)
	for i := range txs {
		if errs[i] != nil || checked[i].Cast != txs[i].Cast {
			t.Fatalf("cast %d: %v", i, errs[i])
		}
	}
}

func TestCastBytesThatAreNotOneCanonicalTxAreRejected(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 13})
	good := (&ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, 0)}).Encode()
	st := ballot.NewMemState()
	applyBlock(t, st, 1, 1000, e.DefinitionTx())
	cases := map[string]struct {
		data []byte
		max  int
		want error
	}{
		"trailing bytes": {append(append([]byte(nil), good...), 0xf6), ballot.MaxTxBytes, ballot.ErrMalformed},
		"truncated":      {good[:len(good)-5], ballot.MaxTxBytes, ballot.ErrMalformed},
		"too large":      {good, len(good) - 1, ballot.ErrTooLarge},
		"empty envelope": {[]byte{0xa0}, ballot.MaxTxBytes, ballot.ErrMalformed},
		"garbage":        {[]byte("hello, world"), ballot.MaxTxBytes, ballot.ErrMalformed},
		"both kinds": {(&ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, 0), Definition: e.Def}).Encode(),
			ballot.MaxTxBytes, ballot.ErrMalformed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ballot.CheckTx(e.Rules, tc.data, tc.max, st); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCastIDIsTheHashOfTheCanonicalTx(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 14})
	c := e.Cast(e.NewVoter(), 1, 0)
	data := (&ballot.Tx{Cast: c}).Encode()
	if c.ID() != consensus.Sum(data) {
		t.Fatal("cast id is not SHA-256 of the tx bytes")
	}
}

// A cast decoded from its encoding and made to share that encoding's bytes
// is the same cast (same id, still valid), holds views of the encoding
// rather than copies, and an append to one of its fields cannot write into
// the encoding.
func TestACastSharingItsEncodingIsTheSameCastWithoutCopies(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 13})
	data := (&ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, 2)}).Encode()
	tx, err := ballot.DecodeTx(data, ballot.MaxTxBytes)
	if err != nil {
		t.Fatal(err)
	}
	c := tx.Cast
	c.ShareWith(data)
	within := func(b []byte) bool {
		return len(b) > 0 && cap(b) == len(b) &&
			uintptr(unsafe.Pointer(&b[0])) >= uintptr(unsafe.Pointer(&data[0])) &&
			uintptr(unsafe.Pointer(&b[len(b)-1])) <= uintptr(unsafe.Pointer(&data[len(data)-1]))
	}
	for name, f := range map[string][]byte{"token": c.Token, "signature": c.Signature, "voter": c.Voter} {
		if !within(f) {
			t.Errorf("the %s is not a view of the encoding ending at its own end", name)
		}
	}
	if (&ballot.Tx{Cast: c}).ID() != ballot.TxID(data) {
		t.Fatal("sharing changed the cast's id")
	}
	if err := c.Verify(e.Rules.Chain, e.Ballot); err != nil {
		t.Fatalf("the sharing cast no longer verifies: %v", err)
	}
	before := bytes.Clone(data)
	_ = append(c.Token, 0xff)
	if !bytes.Equal(data, before) {
		t.Fatal("an append to the token wrote into the encoding")
	}
}
