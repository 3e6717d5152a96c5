package client

import (
	"path/filepath"
	"testing"
)

// A wallet entry saved after its token and before its first cast (the
// cast then failed) reopens: the wallet writes only what its strict
// reader accepts (no null for an empty list).
func TestWalletSavedBeforeTheFirstCastReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wallet.json")
	w, err := OpenWallet(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Entries["b"] = &WalletEntry{ChainID: "c", VoterSeed: make([]byte, 32)}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWallet(path); err != nil {
		t.Fatalf("the wallet it just wrote: %v", err)
	}
}
