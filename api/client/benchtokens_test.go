package client

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// A bench's tokens written to a file read back the same, for the ballot
// they were made for only; a file of another ballot, or not of tokens, is
// refused with the reason, and an existing file is never overwritten.
func TestBenchTokensFileReadsBackForItsBallotOnlyAndIsNeverOverwritten(t *testing.T) {
	id := consensus.Hash{7}
	var toks []voterToken
	for i := range 3 {
		seed := bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize)
		toks = append(toks, voterToken{key: ed25519.NewKeyFromSeed(seed), registrar: uint8(i),
			tok: ballot.Token{Prefix: bytes.Repeat([]byte{byte(10 + i)}, ballot.TokenPrefixSize), Signature: bytes.Repeat([]byte{byte(20 + i)}, 256+i)}})
	}
	path := filepath.Join(t.TempDir(), "tokens")
	if _, found, err := loadTokens(path, id, 3); found || err != nil {
		t.Fatalf("no file: found %v, err %v; want not found, no error", found, err)
	}
	if err := saveTokens(path, id, toks); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the file holds private keys: mode %v (err %v), want 0600", fi.Mode().Perm(), err)
	}
	got, found, err := loadTokens(path, id, 10)
	if err != nil || !found || len(got) != 3 {
		t.Fatalf("read back: %d tokens, found %v, err %v; want 3", len(got), found, err)
	}
	for i := range toks {
		w, g := toks[i], got[i]
		if !w.key.Equal(g.key) || w.registrar != g.registrar || !bytes.Equal(w.tok.Prefix, g.tok.Prefix) || !bytes.Equal(w.tok.Signature, g.tok.Signature) {
			t.Fatalf("token %d read back differs", i)
		}
	}
	if got, _, _ := loadTokens(path, id, 2); len(got) != 2 {
		t.Fatalf("asked for 2 voters, read %d", len(got))
	}
	if _, _, err := loadTokens(path, consensus.Hash{8}, 3); !errors.Is(err, errTokensFile) {
		t.Fatalf("tokens of another ballot: err %v, want errTokensFile", err)
	}
	if err := saveTokens(path, consensus.Hash{8}, toks[:1]); err == nil {
		t.Fatal("an existing file was overwritten")
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("voter_id,code\n"), 0o600)
	if _, _, err := loadTokens(garbage, id, 3); !errors.Is(err, errTokensFile) {
		t.Fatalf("not a tokens file: err %v, want errTokensFile", err)
	}
	data, _ := os.ReadFile(path)
	cut := filepath.Join(t.TempDir(), "cut")
	os.WriteFile(cut, data[:len(data)-5], 0o600)
	if _, _, err := loadTokens(cut, id, 3); !errors.Is(err, errTokensFile) {
		t.Fatalf("a cut file: err %v, want errTokensFile", err)
	}
}
