package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
)

// VoteRequest is what `cocorico vote` asks for.
type VoteRequest struct {
	Node      *Node
	Registrar *Registrar
	BallotID  consensus.Hash
	VoterID   string
	Code      string
	Choice    string // a label of the ballot's choices
	Wallet    *Wallet
	Rand      io.Reader
	// Progress, if set, receives a line per step.
	Progress func(string)
	// Poll is how often to ask whether the cast is final; default 200 ms.
	Poll time.Duration
	// Login, if set, proves the voter's identity by an OpenID Connect
	// login at the registrar (LoopbackLogin) instead of VoterID and Code:
	// it is called only when a token is needed and returns the session.
	// VoterID then only names the wallet's entry.
	Login func(ctx context.Context, ballot consensus.Hash) (session string, err error)
	// ClaimUnnamed re-votes with the wallet's entry for this ballot that
	// names no voter (migrated from a version 1 wallet), as VoterID. Only
	// the voter who cast it may say so: the wallet cannot tell.
	ClaimUnnamed bool
}

// VoteResult is the outcome of a vote.
type VoteResult struct {
	CastID  consensus.Hash
	Seq     uint64
	VoterID string
	Revote  bool
	// Replaces is the voter's cast that this re-vote replaces.
	Replaces consensus.Hash
	Receipt  *ballot.Receipt
	Checks   *ballot.Verification
}

// Vote is the whole voter side: a one-time key and a blind token (or the
// wallet's, to re-vote), the signed cast, finality, and the receipt,
// verified offline against the genesis before it is returned.
func Vote(ctx context.Context, req VoteRequest) (*VoteResult, error) {
	say := req.Progress
	if say == nil {
		say = func(string) {}
	}
	if req.Poll == 0 {
		req.Poll = 200 * time.Millisecond
	}
	if req.VoterID == "" {
		return nil, errors.New("no voter id: the wallet keeps an entry per voter")
	}
	g, b, choice, idx, err := voteBallot(ctx, req)
	if err != nil {
		return nil, err
	}
	var sealTo []byte // a sealed ballot's election key
	if b.Def.Tally == ballot.TallySealed {
		if sealTo, err = electionKey(ctx, req.Node, g.Chain(), b); err != nil {
			return nil, err
		}
	}
	slot := WalletSlot{Genesis: g.Hash(), Ballot: b.ID, Registrar: uint8(idx), VoterID: req.VoterID}
	entry, err := voterEntry(req, slot)
	if err != nil {
		return nil, err
	}
	revote := entry != nil
	var replaces consensus.Hash
	if !revote {
		if entry, err = obtainToken(ctx, req, b, slot); err != nil {
			return nil, err
		}
		say(fmt.Sprintf("first vote as %s: token obtained from the registrar (blind signature)", req.VoterID))
	} else {
		if len(entry.Casts) > 0 {
			replaces = entry.Casts[len(entry.Casts)-1]
		}
		if !b.Def.Revote {
			return nil, fmt.Errorf("%w: %s already voted in ballot %s from this wallet (cast %s)", ballot.ErrRevoteNotAllowed, req.VoterID, b.ID, replaces)
		}
		say(fmt.Sprintf("re-vote as %s with this wallet's key (seq %d, replaces your cast %s)", req.VoterID, entry.LastSeq+1, replaces))
	}
	c, err := signCast(req.Wallet, entry, g, b, choice, sealTo)
	if err != nil {
		return nil, err
	}
	if sealTo != nil {
		say("choice sealed to the ballot's election key: nobody can read it before the keykeepers count after closing")
	}
	r, v, err := castAndProve(ctx, req, g, c, say)
	if err != nil {
		return nil, err
	}
	return &VoteResult{CastID: r.CastID, Seq: c.Seq, VoterID: req.VoterID, Revote: revote, Replaces: replaces, Receipt: r, Checks: v}, nil
}

// voteBallot reads the node's genesis (kept in the wallet) and the
// ballot, checked against it, and finds the voter's choice and registrar.
func voteBallot(ctx context.Context, req VoteRequest) (*consensus.Genesis, *ballot.Ballot, int, int, error) {
	g, err := req.Node.Genesis(ctx)
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("genesis: %w", err)
	}
	g = req.Wallet.TrustGenesis(g)
	b, _, err := req.Node.Ballot(ctx, req.BallotID)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	if _, err := b.Def.Check(ballot.NewRules(g)); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("ballot %s is not a ballot of the node's chain %q: %w", b.ID, g.ChainID, err)
	}
	choice := slices.Index(b.Def.Choices, req.Choice)
	if choice < 0 {
		return nil, nil, 0, 0, fmt.Errorf("%w: %q is not a choice of this ballot (%s)", ballot.ErrChoiceOutOfRange, req.Choice, strings.Join(b.Def.Choices, ", "))
	}
	idx, err := registrarIndex(b, req.Registrar.URL())
	return g, b, choice, idx, err
}

// signCast signs the entry's next cast, its choice sealed to sealTo when
// that is set (a sealed ballot); the seq is spent once the cast is signed,
// so the wallet is saved before the cast is sent.
func signCast(w *Wallet, entry *WalletEntry, g *consensus.Genesis, b *ballot.Ballot, choice int, sealTo []byte) (*ballot.Cast, error) {
	key := ed25519.NewKeyFromSeed(entry.VoterSeed)
	c := &ballot.Cast{BallotID: b.ID, Seq: entry.LastSeq + 1, Choice: uint32(choice), Registrar: entry.Registrar,
		TokenPrefix: entry.TokenPrefix, Token: entry.Token}
	if sealTo != nil {
		c.Voter = key.Public().(ed25519.PublicKey)
		if err := c.Seal(rand.Reader, g.Chain(), sealTo, uint32(choice)); err != nil {
			return nil, err
		}
	}
	c.Sign(g.Chain(), key)
	entry.LastSeq = c.Seq
	entry.Casts = append(entry.Casts, c.ID())
	return c, w.Save()
}

// castAndProve sends the cast (again while the node is busy or the
// voter's last cast too recent), waits until it is final and returns its
// receipt, verified offline against the genesis.
func castAndProve(ctx context.Context, req VoteRequest, g *consensus.Genesis, c *ballot.Cast, say func(string)) (*ballot.Receipt, *ballot.Verification, error) {
	var id consensus.Hash
	said := map[string]bool{} // each reason to try again is said once
	sayOnce := func(m string) {
		if !said[m] {
			said[m] = true
			say(m)
		}
	}
	err := retryOverloaded(ctx, time.Minute, func() error {
		var err error
		id, err = req.Node.SubmitCast(ctx, c)
		if Overloaded(err) {
			sayOnce("the node is busy (overloaded): trying again")
		}
		if TooSoon(err) {
			sayOnce("your last cast is too recent for the chain's re-vote interval: trying again in a moment")
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("submit cast: %w", err)
	}
	say(fmt.Sprintf("cast %s accepted by %s, waiting for finality", id, req.Node.URL()))
	st, err := req.Node.WaitFinal(ctx, id, req.Poll)
	if err != nil {
		return nil, nil, err
	}
	say(fmt.Sprintf("cast final in block %d", st.Height))
	r, err := req.Node.Receipt(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("receipt: %w", err)
	}
	v := r.Verify(g)
	if !v.Valid {
		return nil, nil, fmt.Errorf("the node's receipt fails offline checks %v", v.Failed())
	}
	return r, v, nil
}

// voterEntry returns the wallet's entry of the voter for the ballot, or
// nil for a first vote. The voter's code must be the one of the first
// vote: on a shared computer, another voter typing this voter's id cannot
// re-vote in their name. An entry that names no voter (migrated from a
// version 1 wallet) is used only when the voter claims it.
func voterEntry(req VoteRequest, slot WalletSlot) (*WalletEntry, error) {
	if e := req.Wallet.Entry(slot); e != nil {
		if !e.codeMatches(req.Code) {
			return nil, fmt.Errorf("%w: this wallet's key for %s in ballot %s was made with another code", ErrWrongVoterCode, req.VoterID, slot.Ballot)
		}
		return e, nil
	}
	if !req.ClaimUnnamed {
		return nil, nil
	}
	unnamed := slot
	unnamed.VoterID = ""
	e := req.Wallet.Entry(unnamed)
	if e == nil {
		return nil, fmt.Errorf("--claim-unnamed: this wallet holds no entry without a voter for ballot %s", slot.Ballot)
	}
	e.VoterID = req.VoterID
	if err := e.setCode(req.Rand, req.Code); err != nil {
		return nil, err
	}
	return e, req.Wallet.Save()
}

// ErrWrongVoterCode: a re-vote with a code other than the first vote's.
var ErrWrongVoterCode = errors.New("wrong code for this voter")

func obtainToken(ctx context.Context, req VoteRequest, b *ballot.Ballot, slot WalletSlot) (*WalletEntry, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(req.Rand, seed); err != nil {
		return nil, err
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	tr, err := ballot.NewTokenRequest(req.Rand, b.Keys[slot.Registrar], b.ID, pub)
	if err != nil {
		return nil, err
	}
	treq := registrarapi.TokenRequest{BallotID: b.ID, VoterID: req.VoterID, Code: req.Code, Blinded: tr.Blinded}
	if req.Login != nil {
		if treq.Session, err = req.Login(ctx, b.ID); err != nil {
			return nil, fmt.Errorf("login: %w", err)
		}
		treq.VoterID, treq.Code = "", ""
	}
	blindSig, err := req.Registrar.Token(ctx, treq)
	if err != nil {
		if IsCode(err, "already_issued") && len(req.Wallet.unnamed(slot.Genesis, b.ID)) > 0 {
			return nil, fmt.Errorf("registrar: %w; this wallet holds a key for this ballot from its old format, "+
				"which did not record whose it is: if that vote was yours, vote again with --claim-unnamed", err)
		}
		return nil, fmt.Errorf("registrar: %w", err)
	}
	tok, err := tr.Finalize(blindSig)
	if err != nil {
		return nil, err
	}
	e := &WalletEntry{GenesisHash: slot.Genesis, ChainID: b.Def.ChainID, BallotID: b.ID, Registrar: slot.Registrar,
		VoterID: req.VoterID, VoterSeed: seed, TokenPrefix: tok.Prefix, Token: tok.Signature}
	if err := e.setCode(req.Rand, req.Code); err != nil {
		return nil, err
	}
	req.Wallet.Entries = append(req.Wallet.Entries, e)
	return e, req.Wallet.Save()
}

// registrarIndex finds the registrar of the ballot served at url: by URL
// when the definition names one, else the only registrar.
func registrarIndex(b *ballot.Ballot, url string) (int, error) {
	for i, r := range b.Def.Registrars {
		if r.URL != "" && strings.TrimRight(r.URL, "/") == url {
			return i, nil
		}
	}
	if len(b.Def.Registrars) == 1 {
		return 0, nil
	}
	return 0, fmt.Errorf("%w: the ballot names no registrar at %s", registrar.ErrNotRegistrar, url)
}

// electionKey returns a sealed ballot's election key as the client
// recomputes it from the keyring's signed deals: no node is trusted for it.
func electionKey(ctx context.Context, n *Node, chain consensus.Chain, b *ballot.Ballot) ([]byte, error) {
	kr, err := n.Keyring(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	if err := kr.Keyring.Verify(chain, b); err != nil {
		return nil, fmt.Errorf("node %s served a keyring that does not verify: %w", n.base, err)
	}
	return kr.Keyring.ElectionKey(chain, b)
}
