package client

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// Wallet is a voter's local file (mode 0600): per ballot, the one-time
// key, the token and the last seq, so that voting again re-votes with the
// same key instead of asking the registrar for a second token; and the
// genesis of each chain the voter has used, to check receipts offline.
type Wallet struct {
	Entries map[string]*WalletEntry       `json:"entries"` // by ballot id
	Genesis map[string]*consensus.Genesis `json:"genesis"` // by chain id
	path    string
}

// WalletEntry is what a voter keeps for one ballot.
type WalletEntry struct {
	BallotID    consensus.Hash   `json:"ballot_id"`
	ChainID     string           `json:"chain_id"`
	VoterSeed   []byte           `json:"voter_seed"`
	Registrar   uint8            `json:"registrar"`
	TokenPrefix []byte           `json:"token_prefix,omitempty"`
	Token       []byte           `json:"token,omitempty"`
	LastSeq     uint64           `json:"last_seq"`
	Casts       []consensus.Hash `json:"casts,omitempty"`
}

// DefaultWalletPath is ~/.cocorico/wallet.json.
func DefaultWalletPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return "cocorico-wallet.json"
	}
	return filepath.Join(home, ".cocorico", "wallet.json")
}

// OpenWallet reads the wallet at path, or starts an empty one.
func OpenWallet(path string) (*Wallet, error) {
	w := &Wallet{Entries: map[string]*WalletEntry{}, Genesis: map[string]*consensus.Genesis{}, path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return w, nil
	}
	if err != nil {
		return nil, err
	}
	if err := canon.DecodeJSON(data, w, 64<<20); err != nil {
		return nil, fmt.Errorf("wallet %s: %w", path, err)
	}
	if w.Entries == nil {
		w.Entries = map[string]*WalletEntry{}
	}
	if w.Genesis == nil {
		w.Genesis = map[string]*consensus.Genesis{}
	}
	return w, nil
}

// Save writes the wallet atomically with mode 0600.
func (w *Wallet) Save() error {
	data, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(w.path, data, 0o600)
}

// WriteFileAtomic writes data to path through a synced temporary file and
// a rename, so that a crash leaves the old file or the new one.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// TrustGenesis returns the genesis the wallet holds for g's chain, after
// storing g if it holds none (trust on first use). A different genesis
// for a known chain id is an error: the node is on another chain.
func (w *Wallet) TrustGenesis(g *consensus.Genesis) (*consensus.Genesis, error) {
	if known, ok := w.Genesis[g.ChainID]; ok {
		if known.Hash() != g.Hash() {
			return nil, fmt.Errorf("chain %q: the node's genesis %s differs from the one this wallet trusts (%s)", g.ChainID, g.Hash(), known.Hash())
		}
		return known, nil
	}
	w.Genesis[g.ChainID] = g
	return g, nil
}

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
}

// VoteResult is the outcome of a vote.
type VoteResult struct {
	CastID  consensus.Hash
	Seq     uint64
	Revote  bool
	Receipt *ballot.Receipt
	Checks  *ballot.Verification
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
	g, err := req.Node.Genesis(ctx)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	if g, err = req.Wallet.TrustGenesis(g); err != nil {
		return nil, err
	}
	b, _, err := req.Node.Ballot(ctx, req.BallotID)
	if err != nil {
		return nil, err
	}
	if b.Def.ChainID != g.ChainID {
		return nil, fmt.Errorf("ballot of chain %q on a node of chain %q", b.Def.ChainID, g.ChainID)
	}
	choice := slices.Index(b.Def.Choices, req.Choice)
	if choice < 0 {
		return nil, fmt.Errorf("%w: %q is not a choice of this ballot (%s)", ballot.ErrChoiceOutOfRange, req.Choice, strings.Join(b.Def.Choices, ", "))
	}

	entry := req.Wallet.Entries[b.ID.String()]
	revote := entry != nil && entry.Token != nil
	if !revote {
		if entry, err = obtainToken(ctx, req, b); err != nil {
			return nil, err
		}
		say("token obtained from the registrar (blind signature)")
	} else {
		if !b.Def.Revote {
			return nil, fmt.Errorf("%w: this wallet already voted in ballot %s", ballot.ErrRevoteNotAllowed, b.ID)
		}
		say(fmt.Sprintf("re-voting with this wallet's key (last seq %d)", entry.LastSeq))
	}

	key := ed25519.NewKeyFromSeed(entry.VoterSeed)
	c := &ballot.Cast{BallotID: b.ID, Seq: entry.LastSeq + 1, Choice: uint32(choice), Registrar: entry.Registrar,
		TokenPrefix: entry.TokenPrefix, Token: entry.Token}
	c.Sign(g.ChainID, key)
	// The seq is spent once the cast is signed: save before sending.
	entry.LastSeq = c.Seq
	entry.Casts = append(entry.Casts, c.ID())
	if err := req.Wallet.Save(); err != nil {
		return nil, err
	}
	var id consensus.Hash
	err = retryOverloaded(ctx, time.Minute, func() error {
		var err error
		id, err = req.Node.SubmitCast(ctx, c)
		if Overloaded(err) {
			say("the node is busy (overloaded): trying again")
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("submit cast: %w", err)
	}
	say(fmt.Sprintf("cast %s accepted by %s, waiting for finality", id, req.Node.URL()))
	st, err := req.Node.WaitFinal(ctx, id, req.Poll)
	if err != nil {
		return nil, err
	}
	say(fmt.Sprintf("cast final in block %d", st.Height))
	r, err := req.Node.Receipt(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	v := r.Verify(g)
	if !v.Valid {
		return nil, fmt.Errorf("the node's receipt fails offline checks %v", v.Failed())
	}
	return &VoteResult{CastID: id, Seq: c.Seq, Revote: revote, Receipt: r, Checks: v}, nil
}

func obtainToken(ctx context.Context, req VoteRequest, b *ballot.Ballot) (*WalletEntry, error) {
	idx, err := registrarIndex(b, req.Registrar.URL())
	if err != nil {
		return nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(req.Rand, seed); err != nil {
		return nil, err
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	tr, err := ballot.NewTokenRequest(req.Rand, b.Keys[idx], b.ID, pub)
	if err != nil {
		return nil, err
	}
	blindSig, err := req.Registrar.Token(ctx, registrarapi.TokenRequest{BallotID: b.ID, VoterID: req.VoterID,
		Code: req.Code, Blinded: tr.Blinded})
	if err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	tok, err := tr.Finalize(blindSig)
	if err != nil {
		return nil, err
	}
	e := &WalletEntry{BallotID: b.ID, ChainID: b.Def.ChainID, VoterSeed: seed, Registrar: uint8(idx),
		TokenPrefix: tok.Prefix, Token: tok.Signature}
	req.Wallet.Entries[b.ID.String()] = e
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
