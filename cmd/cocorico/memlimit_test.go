package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// The devnet sets Go's soft memory limit from --memory-limit, unless the
// operator set GOMEMLIMIT (which the runtime already applied) or asked for
// none.
func TestDevnetMemoryLimitIsSetUnlessGOMEMLIMITOrZero(t *testing.T) {
	was := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(was)
	for _, c := range []struct {
		mib  int64
		env  string
		want int64
	}{
		{450, "", 450 << 20},
		{450, "1GiB", math.MaxInt64},
		{0, "", math.MaxInt64},
	} {
		debug.SetMemoryLimit(math.MaxInt64)
		setMemoryLimit(c.mib, c.env)
		if got := debug.SetMemoryLimit(-1); got != c.want {
			t.Errorf("--memory-limit %d, GOMEMLIMIT %q: limit %d, want %d", c.mib, c.env, got, c.want)
		}
	}
}

// The devnet sets Go's GC target from --gc-percent unless the operator set
// GOGC; a value out of range is refused and changes nothing.
func TestDevnetGCPercentIsSetUnlessGOGCAndOutOfRangeIsRefused(t *testing.T) {
	was := debug.SetGCPercent(100)
	defer debug.SetGCPercent(was)
	for _, c := range []struct {
		pct     int
		env     string
		want    int
		refused bool
	}{
		{50, "", 50, false},
		{50, "200", 100, false},
		{1000, "", 1000, false},
		{5, "", 100, true},
		{-1, "", 100, true},
		{1001, "", 100, true},
	} {
		debug.SetGCPercent(100)
		err := setGCPercent(c.pct, c.env)
		if (err != nil) != c.refused {
			t.Errorf("--gc-percent %d, GOGC %q: error %v, want refused %v", c.pct, c.env, err, c.refused)
		}
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("--gc-percent %d, GOGC %q: GC percent %d, want %d", c.pct, c.env, got, c.want)
		}
	}
}

// --ledger-memtable out of 1 to 1024 MiB is refused before the devnet
// makes anything: its folder is not created.
func TestDevnetLedgerMemtableOutOfRangeIsRefusedAndMakesNothing(t *testing.T) {
	for _, mib := range []string{"0", "1025"} {
		dir := filepath.Join(t.TempDir(), "devnet")
		code, out := runCLI("devnet", "--dir", dir, "--api-port", "0", "--ledger-memtable", mib)
		if code == exitOK || !strings.Contains(out, "--ledger-memtable "+mib+": want 1 to 1024 MiB") {
			t.Fatalf("--ledger-memtable %s: exit %d\n%s", mib, code, out)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("--ledger-memtable %s refused, yet its folder exists (%v)", mib, err)
		}
	}
}
