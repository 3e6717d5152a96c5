package storetest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Files returns the paths of the files in dir whose name match accepts,
// sorted.
func Files(dir string, match func(name string) bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && match(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// TruncateNewestLog cuts the newest Pebble write-ahead log of a ledger
// folder to its first quarter and returns its path.
func TruncateNewestLog(ledgerDir string) (string, error) {
	logs, err := Files(ledgerDir, func(n string) bool { return strings.HasSuffix(n, ".log") })
	if err != nil {
		return "", err
	}
	if len(logs) == 0 {
		return "", fmt.Errorf("no write-ahead log in %s", ledgerDir)
	}
	p := logs[len(logs)-1]
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	return p, os.Truncate(p, fi.Size()/4)
}

// RemoveManifest deletes a ledger folder's MANIFEST files and their
// marker and returns what it deleted.
func RemoveManifest(ledgerDir string) ([]string, error) {
	files, err := Files(ledgerDir, func(n string) bool {
		return strings.HasPrefix(n, "MANIFEST-") || strings.HasPrefix(n, "marker.manifest")
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no MANIFEST in %s", ledgerDir)
	}
	for _, p := range files {
		if err := os.Remove(p); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// CorruptTables flips the bits of the first half (past a 64-byte head)
// of every table file (.sst) of a ledger folder and returns their paths.
func CorruptTables(ledgerDir string) ([]string, error) {
	ssts, err := Files(ledgerDir, func(n string) bool { return strings.HasSuffix(n, ".sst") })
	if err != nil {
		return nil, err
	}
	if len(ssts) == 0 {
		return nil, fmt.Errorf("no table file in %s", ledgerDir)
	}
	for _, p := range ssts {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for i := 64; i < len(data)/2; i++ {
			data[i] ^= 0x55
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return nil, err
		}
	}
	return ssts, nil
}
