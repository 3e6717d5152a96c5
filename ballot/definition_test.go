package ballot_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
)

func TestSignedDefinitionChecksAndItsIDIsItsTxHash(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 20})
	b, err := e.Def.Check(e.ChainID)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != ballot.TxID((&ballot.Tx{Definition: e.Def}).Encode()) {
		t.Fatal("ballot id is not the hash of the definition tx")
	}
}

func TestAnyNumberOfChoicesFromTwoTo64IsAllowed(t *testing.T) {
	for _, n := range []int{2, 5, 64} {
		choices := make([]string, n)
		for i := range choices {
			choices[i] = fmt.Sprintf("option %d", i)
		}
		e := ballottest.NewElection(ballottest.Options{Choices: choices, Seed: uint64(n)})
		if len(e.Ballot.Def.Choices) != n {
			t.Fatalf("%d choices", n)
		}
	}
}

func TestInvalidDefinitionsAreRejected(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		mutate func(*ballot.Definition)
		want   error
	}{
		"one choice":         {func(d *ballot.Definition) { d.Choices = d.Choices[:1] }, ballot.ErrDefinitionInvalid},
		"65 choices":         {func(d *ballot.Definition) { d.Choices = make([]string, 65); fill(d.Choices) }, ballot.ErrDefinitionInvalid},
		"duplicate choice":   {func(d *ballot.Definition) { d.Choices[1] = d.Choices[0] }, ballot.ErrDefinitionInvalid},
		"empty label":        {func(d *ballot.Definition) { d.Choices[1] = "  " }, ballot.ErrDefinitionInvalid},
		"long label":         {func(d *ballot.Definition) { d.Choices[1] = strings.Repeat("x", 201) }, ballot.ErrDefinitionInvalid},
		"empty question":     {func(d *ballot.Definition) { d.Question = "" }, ballot.ErrDefinitionInvalid},
		"closes before open": {func(d *ballot.Definition) { d.Closes = d.Opens }, ballot.ErrDefinitionInvalid},
		"no registrar":       {func(d *ballot.Definition) { d.Registrars = nil }, ballot.ErrDefinitionInvalid},
		"garbage key":        {func(d *ballot.Definition) { d.Registrars[0].Key = []byte("nope") }, ballot.ErrDefinitionInvalid},
		"RSA-1024 key": {func(d *ballot.Definition) {
			d.Registrars[0].Key = ballot.MarshalRegistrarKey(&small.PublicKey)
		}, ballot.ErrDefinitionInvalid},
		"sealed tally":   {func(d *ballot.Definition) { d.Tally = ballot.TallySealed }, ballot.ErrSealedUnsupported},
		"unknown tally":  {func(d *ballot.Definition) { d.Tally = 9 }, ballot.ErrDefinitionInvalid},
		"other chain":    {func(d *ballot.Definition) { d.ChainID = "other" }, ballot.ErrWrongChain},
		"bad signature":  {func(d *ballot.Definition) { d.Signature[0] ^= 1 }, ballot.ErrOrganizerSignature},
		"changed choice": {func(d *ballot.Definition) { d.Choices[0] = "pour" }, ballot.ErrOrganizerSignature},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := ballottest.NewElection(ballottest.Options{Seed: 21})
			d := *e.Def
			d.Choices = append([]string(nil), d.Choices...)
			d.Registrars = append([]ballot.Registrar(nil), d.Registrars...)
			d.Signature = append([]byte(nil), d.Signature...)
			tc.mutate(&d)
			if tc.want != ballot.ErrOrganizerSignature && tc.want != ballot.ErrWrongChain {
				d.Sign(e.Organizer) // a signed but invalid definition
			}
			if _, err := d.Check(e.ChainID); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func fill(s []string) {
	for i := range s {
		s[i] = fmt.Sprint(i)
	}
}

func TestRSA3072RegistrarKeyIsAllowed(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{KeyBits: ballot.KeyBits3072, Seed: 22})
	st := ballot.NewMemState()
	applyBlock(t, st, 1, 1000, e.DefinitionTx())
	data := (&ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, 0)}).Encode()
	if _, err := ballot.CheckTx(e.ChainID, data, ballot.MaxTxBytes, st); err != nil {
		t.Fatal(err)
	}
}
