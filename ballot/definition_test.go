package ballot_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"github.com/cocorico/node/consensus"
	"strings"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
)

func TestSignedDefinitionChecksAndItsIDIsItsTxHash(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 20})
	b, err := e.Def.Check(e.Rules)
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
		"sealed tally without keykeepers": {func(d *ballot.Definition) { d.Tally = ballot.TallySealed }, ballot.ErrDefinitionInvalid},
		"unknown tally":                   {func(d *ballot.Definition) { d.Tally = 9 }, ballot.ErrDefinitionInvalid},
		"other chain":                     {func(d *ballot.Definition) { d.ChainID = "other" }, ballot.ErrWrongChain},
		"relaunched chain of the same name": {func(d *ballot.Definition) {
			d.GenesisHash = consensus.Sum([]byte("another genesis"))
		}, ballot.ErrWrongChain},
		"http registrar URL":       {func(d *ballot.Definition) { d.Registrars[0].URL = "http://registrar.example" }, ballot.ErrDefinitionInvalid},
		"registrar URL with query": {func(d *ballot.Definition) { d.Registrars[0].URL = "https://r.example/x?q=" }, ballot.ErrDefinitionInvalid},
		"registrar URL with user":  {func(d *ballot.Definition) { d.Registrars[0].URL = "https://u:p@r.example" }, ballot.ErrDefinitionInvalid},
		"registrar URL fragment":   {func(d *ballot.Definition) { d.Registrars[0].URL = "https://r.example/#x" }, ballot.ErrDefinitionInvalid},
		"registrar file URL":       {func(d *ballot.Definition) { d.Registrars[0].URL = "file:///etc/passwd" }, ballot.ErrDefinitionInvalid},
		"registrar URL no host":    {func(d *ballot.Definition) { d.Registrars[0].URL = "https:///path" }, ballot.ErrDefinitionInvalid},
		"registrar URL too long": {func(d *ballot.Definition) {
			d.Registrars[0].URL = "https://r.example/" + strings.Repeat("a", ballot.MaxURLBytes)
		}, ballot.ErrDefinitionInvalid},
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
			if tc.want != ballot.ErrOrganizerSignature {
				d.Sign(e.Organizer) // a signed but invalid definition
			}
			if _, err := d.Check(e.Rules); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// Only the organizers the genesis names create ballots: a definition
// signed by anyone else is refused before anything else is checked.
func TestDefinitionOfAnOrganizerTheGenesisDoesNotNameIsRefused(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{Seed: 23})
	d := *e.Def
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	d.Sign(stranger)
	if _, err := d.Check(e.Rules); !errors.Is(err, ballot.ErrOrganizerNotAllowed) {
		t.Fatalf("got %v, want ErrOrganizerNotAllowed", err)
	}
	if _, err := d.Parse(); err != nil {
		t.Fatalf("the definition itself is well formed: %v", err)
	}
}

// Registrar URLs a devnet uses (http on loopback) and real ones (https)
// pass; they are for voters' clients, never fetched by a node.
func TestRegistrarURLsOfADevnetAndOfTheInternetAreAllowed(t *testing.T) {
	for _, u := range []string{"", "https://registrar.example", "https://r.example:8443/base/", "http://127.0.0.1:8130", "http://localhost:1", "http://[::1]:80",
		"https://xn--caf-dma.example", "https://192.0.2.7", "https://[2001:db8::7]:443/x;y'z"} {
		if err := ballot.CheckRegistrarURL(u); err != nil {
			t.Errorf("%q: %v", u, err)
		}
	}
}

// A registrar URL's host goes into the voting page's
// Content-Security-Policy: only a DNS name or an IP address is a host,
// so that no URL on the chain adds a directive (;), a wildcard (*) or a
// quoted source to it.
func TestARegistrarURLWhoseHostIsNotANameOrAnAddressIsRefused(t *testing.T) {
	for _, u := range []string{"https://a.example;sandbox", "https://*", "https://*.example", "https://a.example'",
		"https://a'b.example", "https://a.example,b", "https://a!b.example", "https://a%41.example", "https://a(b).example",
		"https://a$b.example", "https://a=b.example", "https://a+b.example", "https://a&b.example"} {
		if err := ballot.CheckRegistrarURL(u); err == nil {
			t.Errorf("%q allowed", u)
		}
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
	if _, err := ballot.CheckTx(e.Rules, data, ballot.MaxTxBytes, st); err != nil {
		t.Fatal(err)
	}
}
