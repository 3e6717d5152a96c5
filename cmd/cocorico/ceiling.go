package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/cocorico/node/ballot/ballottest"
)

// ceiling is C, the casts per second this machine could verify with
// nothing else to do: cores × 1 / (one cast's cost on one core, the work
// of BenchmarkCastVerifyBatch -cpu 1), measured in this process so that
// every other figure of the same run can be read as a fraction of it.
type ceiling struct {
	PerCast time.Duration // one cast on one core
	Cores   int
	C       float64 // casts/s
}

// measureCeiling verifies batches of 128 casts on one goroutine for d.
// Making the casts costs about 0.2 s (128 blind signatures) and is not
// timed.
func measureCeiling(d time.Duration) (ceiling, error) {
	load := ballottest.NewVerifyLoad(128, 61)
	cost, err := load.CastCost(d)
	if err != nil {
		return ceiling{}, err
	}
	cores := runtime.GOMAXPROCS(0)
	return ceiling{PerCast: cost, Cores: cores, C: float64(cores) / cost.Seconds()}, nil
}

func (c ceiling) print(w io.Writer) {
	fmt.Fprintf(w, "ceiling C = %d cores × 1/%s per cast = %.0f casts/s (BenchmarkCastVerifyBatch -cpu 1's work, measured in this run)\n",
		c.Cores, c.PerCast.Round(100*time.Nanosecond), c.C)
}

// fraction prints one figure of the run and its ratio to C.
func (c ceiling) fraction(w io.Writer, what string, perSec float64) {
	fmt.Fprintf(w, "  %-28s %10.0f casts/s = %.2f C\n", what, perSec, perSec/c.C)
}
