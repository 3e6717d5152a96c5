package driver

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// OSFS.MkdirAll makes every missing folder of a path (mode 0700, each
// one's entry synced in its parent), is a no-op on one that exists, and
// refuses a path whose folder is a file.
func TestOSFSMkdirAllMakesEachMissingFolderPrivateAndRefusesAFileInTheWay(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "c")
	for range 2 {
		if err := (OSFS{}).MkdirAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"a", "a/b", "a/b/c"} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v, %v", d, fi, err)
		}
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, filepath.Join(file, "sub")} {
		if err := (OSFS{}).MkdirAll(p); !errors.Is(err, syscall.ENOTDIR) {
			t.Fatalf("MkdirAll(%s) over a file: %v, want ENOTDIR", p, err)
		}
	}
}
