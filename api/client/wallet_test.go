package client

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocorico/node/consensus"
)

func vectorGenesis(t *testing.T) *consensus.Genesis {
	t.Helper()
	data, err := os.ReadFile("../../docs/vectors/genesis.json")
	if err != nil {
		t.Fatal(err)
	}
	g, err := consensus.ParseGenesis(data)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// A version 1 wallet (one entry per ballot, genesis by chain name) is
// migrated, not refused: its genesis are kept by hash and its entries
// name no voter, so that nobody re-votes with one unless they claim it;
// the old file is kept beside the new one.
func TestAnOldFormatWalletIsMigratedAndItsEntryIsUsedOnlyWhenClaimed(t *testing.T) {
	g := vectorGenesis(t)
	ballotID := consensus.Hash{7}
	old := map[string]any{
		"entries": map[string]any{ballotID.String(): map[string]any{"ballot_id": ballotID, "chain_id": g.ChainID,
			"voter_seed": bytes.Repeat([]byte{1}, 32), "registrar": 0, "token": []byte{1, 2, 3}, "last_seq": 1,
			"casts": []consensus.Hash{{9}}}},
		"genesis": map[string]any{g.ChainID: json.RawMessage(g.JSON())},
	}
	data, _ := json.Marshal(old)
	path := filepath.Join(t.TempDir(), "wallet.json")
	os.WriteFile(path, data, 0o600)

	w, err := OpenWallet(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.Notice(), "old format") {
		t.Fatalf("notice %q", w.Notice())
	}
	if w.Genesis[g.Hash().String()] == nil {
		t.Fatal("the old genesis is not kept by its hash")
	}
	slot := WalletSlot{Genesis: g.Hash(), Ballot: ballotID, VoterID: "voter-0001"}
	req := VoteRequest{Wallet: w, VoterID: "voter-0001", Code: "C0DE", Rand: rand.Reader}
	if e, err := voterEntry(req, slot); e != nil || err != nil {
		t.Fatalf("an unnamed entry was taken for voter-0001 without a claim: %+v %v", e, err)
	}
	req.ClaimUnnamed = true
	e, err := voterEntry(req, slot)
	if err != nil || e == nil || e.LastSeq != 1 || e.VoterID != "voter-0001" {
		t.Fatalf("claim: %+v %v", e, err)
	}

	kept, err := os.ReadFile(path + ".v1")
	if err != nil || !bytes.Equal(kept, data) {
		t.Fatalf("the old file is not kept as .v1: %v", err)
	}
	w, err = OpenWallet(path)
	if err != nil || w.Notice() != "" || w.Version != WalletVersion {
		t.Fatalf("reopened: version %d notice %q err %v", w.Version, w.Notice(), err)
	}
	if e := w.Entry(slot); e == nil || !e.codeMatches("C0DE") || e.codeMatches("other") {
		t.Fatalf("the claimed entry is not voter-0001's with its code: %+v", e)
	}
}

// A wallet written by a newer cocorico is refused with a reason, not
// misread.
func TestAWalletOfANewerVersionIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wallet.json")
	os.WriteFile(path, []byte(`{"version": 3, "entries": []}`), 0o600)
	if _, err := OpenWallet(path); err == nil || !strings.Contains(err.Error(), "newer cocorico") {
		t.Fatalf("version 3: %v", err)
	}
}

// Two votes at once from one wallet file (two voters on one computer,
// two processes): the second to save keeps the first's entry.
func TestTwoProcessesSavingOneWalletKeepBothEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wallet.json")
	a, err := OpenWallet(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := OpenWallet(path) // read before a saves
	a.Entries = append(a.Entries, &WalletEntry{VoterID: "voter-0001", BallotID: consensus.Hash{1}, VoterSeed: make([]byte, 32)})
	b.Entries = append(b.Entries, &WalletEntry{VoterID: "voter-0002", BallotID: consensus.Hash{1}, VoterSeed: make([]byte, 32)})
	if err := a.Save(); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(); err != nil {
		t.Fatal(err)
	}
	w, err := OpenWallet(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"voter-0001", "voter-0002"} {
		if w.Entry(WalletSlot{Ballot: consensus.Hash{1}, VoterID: id}) == nil {
			t.Fatalf("%s's entry is lost: %+v", id, w.Entries)
		}
	}
}

// A wallet entry saved after its token and before its first cast (the
// cast then failed) reopens: the wallet writes only what its strict
// reader accepts (no null for an empty list).
func TestWalletSavedBeforeTheFirstCastReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wallet.json")
	w, err := OpenWallet(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Entries = append(w.Entries, &WalletEntry{ChainID: "c", VoterID: "v", VoterSeed: make([]byte, 32), Token: make([]byte, 256)})
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWallet(path); err != nil {
		t.Fatalf("the wallet it just wrote: %v", err)
	}
}
