package main

import (
	"math"
	"runtime/debug"
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
