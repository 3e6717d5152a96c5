//go:build js && wasm

package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"syscall/js"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// client holds the token requests waiting for the registrar's answer: the
// blinding state never leaves the module.
type client struct {
	next    int
	pending map[int]*ballot.TokenRequest
}

func newClient() *client { return &client{pending: map[int]*ballot.TokenRequest{}} }

func parseGenesis(args []js.Value, i int) (*consensus.Genesis, error) {
	s, err := strArg(args, i)
	if err != nil {
		return nil, err
	}
	g, err := consensus.ParseGenesis([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	return g, nil
}

// parseBallot reads a definition, checks that it is the ballot id the page
// asked for and that it is valid under the chain's rules (organizer
// signature, registrar keys), and returns the checked ballot.
func parseBallot(g *consensus.Genesis, args []js.Value, i int) (*ballot.Ballot, error) {
	s, err := strArg(args, i)
	if err != nil {
		return nil, err
	}
	var def ballot.Definition
	if err := json.Unmarshal([]byte(s), &def); err != nil {
		return nil, fmt.Errorf("ballot definition: %w", err)
	}
	want, err := strArg(args, i+1)
	if err != nil {
		return nil, err
	}
	if id := def.ID(); id.String() != want {
		return nil, fmt.Errorf("the node's definition hashes to %s, not the ballot %s", id, want)
	}
	return def.Check(ballot.NewRules(g))
}

// chainBallot reads the arguments (genesis, definition, ballot id).
func chainBallot(args []js.Value) (*consensus.Genesis, *ballot.Ballot, error) {
	g, err := parseGenesis(args, 0)
	if err != nil {
		return nil, nil, err
	}
	b, err := parseBallot(g, args, 1)
	return g, b, err
}

type genesisView struct {
	ChainID     string         `json:"chain_id"`
	GenesisHash consensus.Hash `json:"genesis_hash"`
	Validators  int            `json:"validators"`
}

// genesisHash(genesis) → {chain_id, genesis_hash, validators}.
func (c *client) genesisHash(args []js.Value) (any, error) {
	g, err := parseGenesis(args, 0)
	if err != nil {
		return nil, err
	}
	return genesisView{g.ChainID, g.Hash(), len(g.Validators)}, nil
}

type tokenRequestView struct {
	Handle  int    `json:"handle"`
	Seed    []byte `json:"seed"`
	Blinded []byte `json:"blinded"`
}

// tokenRequest(genesis, definition, ballotID, registrar) makes a one-time
// voter key and blinds the token message for it (RFC 9474 §4.1-4.2):
// {handle, seed, blinded}. The seed is the voter's key, for the wallet.
func (c *client) tokenRequest(args []js.Value) (any, error) {
	_, b, err := chainBallot(args)
	if err != nil {
		return nil, err
	}
	idx, err := intArg(args, 3)
	if err != nil {
		return nil, err
	}
	if idx < 0 || idx >= len(b.Keys) {
		return nil, fmt.Errorf("%w: registrar %d of %d", ballot.ErrUnknownRegistrar, idx, len(b.Keys))
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	tr, err := ballot.NewTokenRequest(rand.Reader, b.Keys[idx], b.ID, pub)
	if err != nil {
		return nil, err
	}
	c.next++
	c.pending[c.next] = tr
	return tokenRequestView{Handle: c.next, Seed: seed, Blinded: tr.Blinded}, nil
}

type tokenView struct {
	TokenPrefix []byte `json:"token_prefix"`
	Token       []byte `json:"token"`
}

// finalizeToken(handle, blindSignature) unblinds the registrar's answer
// and checks it (RFC 9474 §4.4): {token_prefix, token}.
func (c *client) finalizeToken(args []js.Value) (any, error) {
	h, err := intArg(args, 0)
	if err != nil {
		return nil, err
	}
	tr, ok := c.pending[h]
	if !ok {
		return nil, fmt.Errorf("no token request %d", h)
	}
	s, err := strArg(args, 1)
	if err != nil {
		return nil, err
	}
	sig, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("blind signature: %w", err)
	}
	tok, err := tr.Finalize(sig)
	if err != nil {
		return nil, err
	}
	delete(c.pending, h)
	return tokenView{tok.Prefix, tok.Signature}, nil
}

type castView struct {
	Cast   *ballot.Cast   `json:"cast"`
	CastID consensus.Hash `json:"cast_id"`
}

// signCast(genesis, definition, ballotID, cast, seed, keyring) signs the
// cast (ballot_id, seq, choice, registrar, token_prefix, token) with the
// voter key of seed, then checks it as a node will (token, choice,
// signature): {cast, cast_id}. In a sealed ballot, keyring is the
// keyring's JSON (GET /v1/ballots/{id}/keyring's "keyring"): its signed
// deals are checked, the election key recomputed from them, and the choice
// sealed to it with the browser's randomness (docs/PROTOCOL.md §19.3), by
// the very code `cocorico vote` runs.
func (c *client) signCast(args []js.Value) (any, error) {
	g, b, err := chainBallot(args)
	if err != nil {
		return nil, err
	}
	s, err := strArg(args, 3)
	if err != nil {
		return nil, err
	}
	var cast ballot.Cast
	if err := json.Unmarshal([]byte(s), &cast); err != nil {
		return nil, fmt.Errorf("cast: %w", err)
	}
	if s, err = strArg(args, 4); err != nil {
		return nil, err
	}
	seed, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("voter key: want %d bytes of base64", ed25519.SeedSize)
	}
	key := ed25519.NewKeyFromSeed(seed)
	if b.Def.Tally == ballot.TallySealed {
		if err := sealCast(g.Chain(), b, &cast, key, args); err != nil {
			return nil, err
		}
	}
	cast.Sign(g.Chain(), key)
	if err := cast.Verify(g.Chain(), b); err != nil {
		return nil, err
	}
	return castView{&cast, cast.ID()}, nil
}

// sealCast seals cast's choice to the election key of the keyring in
// args[5].
func sealCast(chain consensus.Chain, b *ballot.Ballot, cast *ballot.Cast, key ed25519.PrivateKey, args []js.Value) error {
	s, err := strArg(args, 5)
	if err != nil {
		return err
	}
	var k ballot.Keyring
	if err := json.Unmarshal([]byte(s), &k); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := k.Verify(chain, b); err != nil {
		return err
	}
	electionKey, err := k.ElectionKey(chain, b)
	if err != nil {
		return err
	}
	cast.Voter = key.Public().(ed25519.PublicKey)
	return cast.Seal(rand.Reader, chain, electionKey, cast.Choice)
}

type receiptView struct {
	*ballot.Verification
	ChainID     string         `json:"chain_id"`
	GenesisHash consensus.Hash `json:"genesis_hash"`
	BallotID    consensus.Hash `json:"ballot_id"`
	CastID      consensus.Hash `json:"cast_id"`
	Height      uint64         `json:"height"`
	// Signers is how many validators signed the block's commit.
	Signers    int `json:"signers"`
	Validators int `json:"validators"`
}

// verifyReceipt(genesis, receipt) runs the nine offline checks of
// ballot.Receipt.Verify: {valid, checks, ...}. A file that is not a
// receipt at all is an error.
func (c *client) verifyReceipt(args []js.Value) (any, error) {
	g, err := parseGenesis(args, 0)
	if err != nil {
		return nil, err
	}
	s, err := strArg(args, 1)
	if err != nil {
		return nil, err
	}
	r, err := ballot.DecodeReceipt([]byte(s))
	if err != nil {
		return nil, err
	}
	v := receiptView{Verification: r.Verify(g), ChainID: r.ChainID, GenesisHash: r.GenesisHash, BallotID: r.BallotID,
		CastID: r.CastID, Height: r.Height, Validators: len(g.Validators)}
	if r.Commit != nil {
		v.Signers = len(r.Commit.Signatures)
	}
	return v, nil
}

// codeHash(salt, code) → {hash}: SHA-256("cocorico/v1/wallet-code" ‖ salt
// ‖ code), kept in the browser wallet so that a re-vote from this browser
// asks for the voter's code again without sending it anywhere.
func (c *client) codeHash(args []js.Value) (any, error) {
	salt, err := strArg(args, 0)
	if err != nil {
		return nil, err
	}
	code, err := strArg(args, 1)
	if err != nil {
		return nil, err
	}
	return map[string]consensus.Hash{"hash": consensus.Sum([]byte("cocorico/v1/wallet-code"), []byte(salt), []byte(code))}, nil
}
