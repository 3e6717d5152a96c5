package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocorico/node/store/storetest"
)

// commitBlocks writes blocks 1..n (20 txs each) and returns the last hash.
func commitBlocks(t *testing.T, l *Ledger, n int) {
	t.Helper()
	prev := genesis
	for h := uint64(1); h <= uint64(n); h++ {
		b, ids := testBlock(h, prev, 20)
		if err := l.Commit(b, testCommit(b), ids, []KV{{Key: []byte{byte(h)}, Value: []byte("v")}}); err != nil {
			t.Fatal(err)
		}
		prev = b.Hash()
	}
}

// flushedLedger returns a ledger folder whose 50 blocks sit in a table
// file (.sst), not only in the log.
func flushedLedger(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitBlocks(t, l, 50)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Before: Pebble found no manifest, started an empty database and the
// node came up at height 0 (the old tables deleted as obsolete).
func TestMissingManifestIsAnErrorNotAFreshLedger(t *testing.T) {
	dir := flushedLedger(t)
	if _, err := storetest.RemoveManifest(dir); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, genesis, Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "no MANIFEST") {
		t.Fatalf("open without MANIFEST: %v, want ErrCorrupt saying no MANIFEST", err)
	}
	if ssts, _ := storetest.Files(dir, func(n string) bool { return strings.HasSuffix(n, ".sst") }); len(ssts) == 0 {
		t.Fatal("the refused open deleted the table files")
	}
}

// Before: a bad checksum in a table reached Pebble's logger's Fatalf,
// which panicked (exit status 2).
func TestCorruptSSTableIsAnErrorNamingTheFile(t *testing.T) {
	dir := flushedLedger(t)
	ssts, err := storetest.CorruptTables(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, genesis, Options{})
	if err == nil {
		defer l.Close()
		for h := uint64(1); h <= 50 && err == nil; h++ {
			_, err = l.Block(h)
		}
	}
	// Every table is corrupt (a ledger's tables hold one kind of key
	// each: there are several), and Pebble reads them in the background
	// too: the error names the one it is about, whichever that is.
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading a corrupt table: %v, want ErrCorrupt", err)
	}
	m := pebbleFileNumber.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("reading a corrupt table: %v: no file number in Pebble's message", err)
	}
	named := ""
	for _, p := range ssts {
		if strings.Contains(err.Error(), p+": ") {
			named = filepath.Base(p)
		}
	}
	if named != m[1]+".sst" {
		t.Fatalf("reading a corrupt table: %v, want ErrCorrupt naming the path of %s.sst (one of %d corrupt tables), named %q", err, m[1], len(ssts), named)
	}
}

func TestEmptyFolderIsANewLedger(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledger")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not pebble's"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, genesis, Options{})
	if err != nil {
		t.Fatalf("a folder without Pebble files is a new ledger: %v", err)
	}
	l.Close()
}
