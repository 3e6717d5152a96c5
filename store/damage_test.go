package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func filesWith(t *testing.T, dir string, match func(string) bool) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if match(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// Before: Pebble found no manifest, started an empty database and the
// node came up at height 0 (the old tables deleted as obsolete).
func TestMissingManifestIsAnErrorNotAFreshLedger(t *testing.T) {
	dir := flushedLedger(t)
	for _, p := range filesWith(t, dir, func(n string) bool {
		return strings.HasPrefix(n, "MANIFEST-") || strings.HasPrefix(n, "marker.manifest")
	}) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Open(dir, genesis, Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "no MANIFEST") {
		t.Fatalf("open without MANIFEST: %v, want ErrCorrupt saying no MANIFEST", err)
	}
	if ssts := filesWith(t, dir, func(n string) bool { return strings.HasSuffix(n, ".sst") }); len(ssts) == 0 {
		t.Fatal("the refused open deleted the table files")
	}
}

// Before: a bad checksum in a table reached Pebble's logger's Fatalf,
// which panicked (exit status 2).
func TestCorruptSSTableIsAnErrorNamingTheFile(t *testing.T) {
	dir := flushedLedger(t)
	ssts := filesWith(t, dir, func(n string) bool { return strings.HasSuffix(n, ".sst") })
	if len(ssts) == 0 {
		t.Fatal("no table file")
	}
	for _, p := range ssts {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 64; i < len(data)/2; i++ {
			data[i] ^= 0x55
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	l, err := Open(dir, genesis, Options{})
	if err == nil {
		defer l.Close()
		for h := uint64(1); h <= 50 && err == nil; h++ {
			_, err = l.Block(h)
		}
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(ssts[0])) {
		t.Fatalf("reading a corrupt table: %v, want ErrCorrupt naming %s", err, filepath.Base(ssts[0]))
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
