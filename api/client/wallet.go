package client

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
	"github.com/cocorico/node/consensus/driver"
)

// WalletVersion is the format of the wallet file this code writes.
// Version 1 (no "version" field) kept one entry per ballot, whoever voted,
// and trusted one genesis per chain name; OpenWallet migrates it.
const WalletVersion = 2

// Wallet is a voter's local file (mode 0600). It holds an entry per
// chain, ballot and voter (the one-time key, the token and the last seq),
// so that a voter voting again re-votes with the same key instead of
// asking the registrar for a second token, and two people voting from one
// computer each keep their own; and every genesis the wallet has used, by
// its hash, to check receipts offline. A chain is its genesis hash: a
// second chain with the same name is another chain, not an error.
type Wallet struct {
	Version int                           `json:"version"`
	Genesis map[string]*consensus.Genesis `json:"genesis"` // by genesis hash (hex)
	Entries []*WalletEntry                `json:"entries"`

	path     string
	original []byte // the file as read, when it was migrated: kept beside it on Save
	notice   string
}

// WalletSlot is what identifies a wallet entry: the chain, the ballot and
// the voter (a voter id is a registrar's, so the registrar is part of it).
type WalletSlot struct {
	Genesis   consensus.Hash
	Ballot    consensus.Hash
	Registrar uint8 // index in the ballot definition's registrars
	VoterID   string
}

// WalletEntry is what a voter keeps for one ballot.
type WalletEntry struct {
	GenesisHash consensus.Hash `json:"genesis_hash"`
	ChainID     string         `json:"chain_id"`
	BallotID    consensus.Hash `json:"ballot_id"`
	Registrar   uint8          `json:"registrar"`
	// VoterID is the voter's id on the registrar's roll; empty for an
	// entry migrated from a version 1 wallet, which did not record it.
	VoterID     string           `json:"voter_id"`
	VoterSeed   []byte           `json:"voter_seed"`
	TokenPrefix []byte           `json:"token_prefix,omitempty"`
	Token       []byte           `json:"token,omitempty"`
	LastSeq     uint64           `json:"last_seq"`
	Casts       []consensus.Hash `json:"casts,omitempty"`
	// CodeSalt and CodeCheck bind the entry to the voter's code, so that
	// on a shared computer nobody re-votes in another voter's name by
	// typing their id. Not a secret store: whoever reads the file holds
	// the key anyway.
	CodeSalt  []byte `json:"code_salt,omitempty"`
	CodeCheck []byte `json:"code_check,omitempty"`
}

func codeCheck(salt []byte, voterID, code string) []byte {
	h := sha256.New()
	h.Write([]byte("cocorico/wallet/code"))
	h.Write(salt)
	binary.Write(h, binary.BigEndian, uint32(len(voterID)))
	h.Write([]byte(voterID))
	h.Write([]byte(code))
	return h.Sum(nil)
}

func (e *WalletEntry) setCode(rand io.Reader, code string) error {
	e.CodeSalt = make([]byte, 16)
	if _, err := io.ReadFull(rand, e.CodeSalt); err != nil {
		return err
	}
	e.CodeCheck = codeCheck(e.CodeSalt, e.VoterID, code)
	return nil
}

// codeMatches reports whether code is the one the entry was made with
// (an entry without a check, migrated, matches any).
func (e *WalletEntry) codeMatches(code string) bool {
	return len(e.CodeCheck) == 0 || subtle.ConstantTimeCompare(e.CodeCheck, codeCheck(e.CodeSalt, e.VoterID, code)) == 1
}

// Slot returns the entry's slot.
func (e *WalletEntry) Slot() WalletSlot {
	return WalletSlot{Genesis: e.GenesisHash, Ballot: e.BallotID, Registrar: e.Registrar, VoterID: e.VoterID}
}

// DefaultWalletPath is ~/.cocorico/wallet.json.
func DefaultWalletPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return "cocorico-wallet.json"
	}
	return filepath.Join(home, ".cocorico", "wallet.json")
}

// OpenWallet reads the wallet at path, or starts an empty one. A version 1
// wallet is migrated in memory (Notice says so); Save writes version 2
// and keeps the old file beside it as path + ".v1".
func OpenWallet(path string) (*Wallet, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Wallet{Version: WalletVersion, Genesis: map[string]*consensus.Genesis{}, Entries: []*WalletEntry{}, path: path}, nil
	}
	if err != nil {
		return nil, err
	}
	w, err := decodeWallet(data)
	if err != nil {
		return nil, fmt.Errorf("wallet %s: %w", path, err)
	}
	w.path = path
	if w.original != nil {
		w.notice = fmt.Sprintf("wallet %s is in the old format (one entry per ballot, whoever voted): "+
			"migrated to entries per voter; its %d entries name no voter and are used only with --claim-unnamed; "+
			"the old file is kept as %s.v1", path, len(w.Entries), path)
	}
	return w, nil
}

// Notice is what the voter should be told about the wallet file (its
// migration), or "".
func (w *Wallet) Notice() string { return w.notice }

// walletV1 is the version 1 file: entries by ballot id, genesis by chain id.
type walletV1 struct {
	Entries map[string]*WalletEntry       `json:"entries"`
	Genesis map[string]*consensus.Genesis `json:"genesis"`
}

// decodeWallet is the one place the wallet file is decoded (the strict
// JSON decoder goes here): a version 2 file as it is, a version 1 file
// migrated, anything else refused.
// maxWalletBytes bounds a wallet file.
const maxWalletBytes = 64 << 20

func decodeWallet(data []byte) (*Wallet, error) {
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, err
	}
	switch probe.Version {
	case WalletVersion:
		w := &Wallet{}
		if err := canon.DecodeJSON(data, w, maxWalletBytes); err != nil {
			return nil, err
		}
		// Keyed by what each genesis hashes to, not by what the file says.
		byHash := make(map[string]*consensus.Genesis, len(w.Genesis))
		for _, g := range w.Genesis {
			if g != nil {
				byHash[g.Hash().String()] = g
			}
		}
		w.Genesis = byHash
		return w, nil
	case 0:
		var old walletV1
		if err := json.Unmarshal(data, &old); err != nil {
			return nil, err
		}
		return migrateWalletV1(&old, data)
	default:
		return nil, fmt.Errorf("version %d: this cocorico reads wallets up to version %d (a newer cocorico wrote it)", probe.Version, WalletVersion)
	}
}

// migrateWalletV1 keys version 1's genesis by hash and its entries by
// chain, ballot and registrar, with no voter: version 1 did not record who
// voted, and guessing would re-vote as someone else (issue 10 item 6).
func migrateWalletV1(old *walletV1, original []byte) (*Wallet, error) {
	w := &Wallet{Version: WalletVersion, Genesis: map[string]*consensus.Genesis{}, original: original}
	for _, g := range old.Genesis {
		if g != nil {
			w.Genesis[g.Hash().String()] = g
		}
	}
	ids := make([]string, 0, len(old.Entries))
	for id := range old.Entries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := old.Entries[id]
		g := old.Genesis[e.ChainID]
		if g == nil {
			return nil, fmt.Errorf("old-format entry for ballot %s names chain %q, whose genesis the file lacks: "+
				"cannot tell which chain it is on (move the file aside to start a new wallet)", id, e.ChainID)
		}
		e.GenesisHash, e.VoterID = g.Hash(), ""
		w.Entries = append(w.Entries, e)
	}
	return w, nil
}

// Save writes the wallet atomically with mode 0600. The first Save of a
// migrated wallet keeps the old file as path + ".v1". Entries and genesis
// that another process wrote to the file since it was read (two voters
// voting at once on one computer) are kept: the file is read again and
// merged just before it is replaced.
func (w *Wallet) Save() error {
	if data, err := os.ReadFile(w.path); err == nil && w.original == nil {
		if disk, err := decodeWallet(data); err == nil {
			w.merge(disk)
		}
	}
	if w.original != nil {
		if _, err := os.Stat(w.path + ".v1"); errors.Is(err, fs.ErrNotExist) {
			if err := WriteFileAtomic(w.path+".v1", w.original, 0o600); err != nil {
				return err
			}
		}
		w.original = nil
	}
	data, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(w.path, data, 0o600)
}

// merge adds the genesis and the entries of other that w lacks.
func (w *Wallet) merge(other *Wallet) {
	for h, g := range other.Genesis {
		if _, ok := w.Genesis[h]; !ok {
			w.Genesis[h] = g
		}
	}
	for _, e := range other.Entries {
		if w.Entry(e.Slot()) == nil {
			w.Entries = append(w.Entries, e)
		}
	}
}

// WriteFileAtomic writes a file on this machine with driver.WriteFileAtomic
// (the one atomic write: a crash leaves the old file or the new one).
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return driver.WriteFileAtomic(driver.OSFS{}, path, data, mode)
}

// TrustGenesis keeps g among the chains the wallet has used and returns
// it. A chain is its genesis hash: a new genesis under a known chain name
// (a second devnet) is one more chain, kept beside the first.
func (w *Wallet) TrustGenesis(g *consensus.Genesis) *consensus.Genesis {
	h := g.Hash().String()
	if known, ok := w.Genesis[h]; ok {
		return known
	}
	w.Genesis[h] = g
	return g
}

// Entry returns the entry of a slot, or nil.
func (w *Wallet) Entry(s WalletSlot) *WalletEntry {
	for _, e := range w.Entries {
		if e.Slot() == s {
			return e
		}
	}
	return nil
}

// unnamed returns the entries migrated from version 1 for a ballot of a
// chain: they name no voter.
func (w *Wallet) unnamed(g, b consensus.Hash) []*WalletEntry {
	var out []*WalletEntry
	for _, e := range w.Entries {
		if e.GenesisHash == g && e.BallotID == b && e.VoterID == "" {
			out = append(out, e)
		}
	}
	return out
}

// GenesisOf returns the genesis, among the wallet's, of the chain a
// receipt is from.
func (w *Wallet) GenesisOf(r *ballot.Receipt) (*consensus.Genesis, error) {
	h, err := w.receiptGenesisHash(r)
	if err != nil {
		return nil, err
	}
	g, ok := w.Genesis[h.String()]
	if !ok {
		return nil, fmt.Errorf("no genesis %s in the wallet", h)
	}
	return g, nil
}

// receiptGenesisHash is the genesis hash of a receipt's chain: the
// receipt names it (every signature in it binds it).
func (w *Wallet) receiptGenesisHash(r *ballot.Receipt) (consensus.Hash, error) {
	if r.GenesisHash.IsZero() {
		return consensus.Hash{}, fmt.Errorf("the receipt names no genesis")
	}
	return r.GenesisHash, nil
}
