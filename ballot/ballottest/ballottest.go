// Package ballottest builds elections for tests and benchmarks: an
// organizer, a registrar key, a signed definition and voters holding real
// blind-signed tokens. Everything is real cryptography; nothing is faked.
package ballottest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	mrand "math/rand/v2"
	"sync"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/seal"
	"github.com/cocorico/node/consensus"
)

var (
	keyMu sync.Mutex
	keys  = map[int]*rsa.PrivateKey{}
)

// RegistrarKey returns an RSA key of the given size, generated once per
// process: key generation is slow and tests need many elections.
func RegistrarKey(bits int) *rsa.PrivateKey {
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keys[bits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	keys[bits] = k
	return k
}

// Seeded returns a deterministic source of bytes for blinding, prefixes
// and one-time keys, so that a failing test can be replayed.
func Seeded(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return mrand.NewChaCha8(s)
}

// Options shape an election.
type Options struct {
	// Genesis is the chain of the election; default Validators(ChainID, 4, 0).
	Genesis *consensus.Genesis
	ChainID string
	Choices []string
	Opens   int64 // Unix ms
	Closes  int64 // Unix ms
	Revote  bool
	KeyBits int // 2048 (default) or 3072
	Seed    uint64
	// Keykeepers, when set, make the ballot sealed among that many
	// keykeepers, Threshold of whom recover its key.
	Keykeepers, Threshold int
	// KeygenCloses ends deals and complaints; default Opens − 1.
	KeygenCloses int64
}

// Keykeeper holds a test keykeeper's secrets.
type Keykeeper struct {
	Sign    ed25519.PrivateKey
	EncPriv []byte
}

// Election is one ballot with its organizer and registrar secrets.
type Election struct {
	ChainID   string
	Genesis   *consensus.Genesis
	Rules     ballot.Rules
	Organizer ed25519.PrivateKey
	Registrar *rsa.PrivateKey
	Def       *ballot.Definition
	Ballot    *ballot.Ballot
	// Keykeepers of a sealed ballot, in the definition's order.
	Keykeepers []Keykeeper
	rng        *mrand.ChaCha8
	question   int
}

// NewElection makes a signed ballot definition. Zero options get defaults:
// chain "test-chain" of 4 validators, for / against / abstention, open
// from 0 to 10^13 ms, re-voting allowed only if asked. The organizer is
// the one Validators puts in every test genesis.
func NewElection(o Options) *Election {
	if o.ChainID == "" {
		o.ChainID = "test-chain"
		if o.Genesis != nil {
			o.ChainID = o.Genesis.ChainID
		}
	}
	if o.Genesis == nil {
		o.Genesis, _ = Validators(o.ChainID, 4, 0)
	}
	rules := ballot.NewRules(o.Genesis)
	if o.Choices == nil {
		o.Choices = []string{"for", "against", "abstention"}
	}
	if o.Closes == 0 {
		o.Closes = 1e13
	}
	if o.KeyBits == 0 {
		o.KeyBits = ballot.KeyBits2048
	}
	rng := Seeded(o.Seed)
	org := OrganizerKey()
	reg := RegistrarKey(o.KeyBits)
	def := &ballot.Definition{
		ChainID:     o.ChainID,
		GenesisHash: rules.Chain.Genesis,
		Question:    fmt.Sprintf("Test question %d?", o.Seed),
		Choices:     o.Choices,
		Opens:       o.Opens,
		Closes:      o.Closes,
		Registrars:  []ballot.Registrar{{Name: "test registrar", Key: ballot.MarshalRegistrarKey(&reg.PublicKey)}},
		Revote:      o.Revote,
	}
	var kks []Keykeeper
	for i := range o.Keykeepers {
		seed := make([]byte, ed25519.SeedSize)
		rng.Read(seed)
		k := Keykeeper{Sign: ed25519.NewKeyFromSeed(seed)}
		pub, priv, err := seal.NewKeyPair(rng)
		if err != nil {
			panic(err)
		}
		k.EncPriv = priv
		kks = append(kks, k)
		def.Tally, def.Threshold, def.KeygenCloses = ballot.TallySealed, uint8(o.Threshold), o.KeygenCloses
		if def.KeygenCloses == 0 {
			def.KeygenCloses = o.Opens - 1
		}
		def.Keykeepers = append(def.Keykeepers, ballot.Keykeeper{Name: fmt.Sprintf("keykeeper %d", i), Key: k.Sign.Public().(ed25519.PublicKey), EncKey: pub})
	}
	def.Sign(org)
	b, err := def.Check(rules)
	if err != nil {
		panic(err)
	}
	return &Election{ChainID: o.ChainID, Genesis: o.Genesis, Rules: rules, Organizer: org, Registrar: reg, Def: def, Ballot: b, Keykeepers: kks, rng: rng}
}

// OrganizerKey is the organizer every test genesis allows.
func OrganizerKey() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "cocorico test organizer")
	return ed25519.NewKeyFromSeed(seed)
}

// Voter is a voter's one-time key and its token for one ballot.
type Voter struct {
	Key   ed25519.PrivateKey
	Token ballot.Token
}

// NewVoter makes a one-time key and obtains its token through the real
// blind-signature exchange with the election's registrar key.
func (e *Election) NewVoter() *Voter {
	seed := make([]byte, ed25519.SeedSize)
	e.rng.Read(seed)
	key := ed25519.NewKeyFromSeed(seed)
	req, err := ballot.NewTokenRequest(e.rng, &e.Registrar.PublicKey, e.Ballot.ID, key.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	blindSig, err := ballot.BlindSign(e.Registrar, req.Blinded)
	if err != nil {
		panic(err)
	}
	tok, err := req.Finalize(blindSig)
	if err != nil {
		panic(err)
	}
	return &Voter{Key: key, Token: tok}
}

// Cast returns v's signed cast for choice with sequence number seq.
func (e *Election) Cast(v *Voter, seq uint64, choice uint32) *ballot.Cast {
	c := &ballot.Cast{
		BallotID:    e.Ballot.ID,
		Seq:         seq,
		Choice:      choice,
		TokenPrefix: v.Token.Prefix,
		Token:       v.Token.Signature,
	}
	c.Sign(e.Rules.Chain, v.Key)
	return c
}

// SealedCast returns v's signed cast with choice sealed to electionKey.
func (e *Election) SealedCast(v *Voter, seq uint64, choice uint32, electionKey []byte) *ballot.Cast {
	c := &ballot.Cast{
		BallotID:    e.Ballot.ID,
		Voter:       v.Key.Public().(ed25519.PublicKey),
		Seq:         seq,
		TokenPrefix: v.Token.Prefix,
		Token:       v.Token.Signature,
	}
	if err := c.Seal(e.rng, e.Rules.Chain, electionKey, choice); err != nil {
		panic(err)
	}
	c.Sign(e.Rules.Chain, v.Key)
	return c
}

// Deal returns keykeeper i's signed deal.
func (e *Election) Deal(i int) *ballot.Deal {
	d, err := ballot.NewDeal(e.rng, e.Rules.Chain, e.Ballot, i, e.Keykeepers[i].Sign)
	if err != nil {
		panic(err)
	}
	return d
}

// DefinitionTx returns the checked transaction that creates the ballot.
func (e *Election) DefinitionTx() *ballot.Checked {
	data := (&ballot.Tx{Definition: e.Def}).Encode()
	return &ballot.Checked{ID: ballot.TxID(data), Bytes: data, Ballot: e.Ballot}
}

// Checked returns c as a checked transaction, without verifying it.
func Checked(c *ballot.Cast) *ballot.Checked {
	data := (&ballot.Tx{Cast: c}).Encode()
	return &ballot.Checked{ID: ballot.TxID(data), Bytes: data, Cast: c}
}

// Validators makes n validator keys and the genesis naming them, with the
// default application rules and OrganizerKey as its organizer.
func Validators(chainID string, n int, seed uint64) (*consensus.Genesis, []ed25519.PrivateKey) {
	rng := Seeded(seed)
	keys := make([]ed25519.PrivateKey, n)
	vals := make([]consensus.Validator, n)
	for i := range keys {
		s := make([]byte, ed25519.SeedSize)
		rng.Read(s)
		keys[i] = ed25519.NewKeyFromSeed(s)
		vals[i] = consensus.Validator{Name: fmt.Sprintf("validator-%d", i), PubKey: keys[i].Public().(ed25519.PublicKey)}
	}
	g := &consensus.Genesis{ChainID: chainID, Validators: vals, Params: consensus.DefaultParams(), App: consensus.DefaultAppParams()}
	g.App.Organizers = []consensus.Organizer{{Name: "test organizer", PubKey: OrganizerKey().Public().(ed25519.PublicKey)}}
	g.GenesisTime = timeUnixMilli(1_700_000_000_000)
	return g, keys
}

// Commit returns the commit of the first quorum of keys for header.
func Commit(chain consensus.Chain, keys []ed25519.PrivateKey, h *consensus.Header, round uint32) *consensus.Commit {
	quorum := 2*len(keys)/3 + 1
	votes := make([]*consensus.Vote, quorum)
	for i := range quorum {
		v := &consensus.Vote{Type: consensus.Precommit, Height: h.Height, Round: round, BlockHash: h.Hash(), Validator: uint16(i)}
		v.Sign(chain, keys[i])
		votes[i] = v
	}
	c, err := consensus.NewCommit(votes)
	if err != nil {
		panic(err)
	}
	return c
}
