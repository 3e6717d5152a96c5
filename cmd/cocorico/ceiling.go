package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

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
	// Wall is what every core verifying at once gave, by the wall clock,
	// measured right after C: on a virtual or shared machine a process's
	// threads get less than whole cores (on the 2-core machine of
	// issue 17 two spinning threads got 1.58 cores), so no wall-clock
	// figure can pass Wall, which may be well below C.
	Wall float64 // casts/s
}

// measureCeiling verifies batches of 128 casts on one goroutine for d of
// this process's CPU time: on a quiet machine the same as the wall clock,
// and on one busy with other work still the cost of a cast, where the
// wall clock would count the time the core was given to others. Making
// the casts costs about 0.2 s (128 blind signatures) and is not timed.
func measureCeiling(d time.Duration) (ceiling, error) {
	load := ballottest.NewVerifyLoad(128, 61)
	clock := processCPU
	if clock() == 0 {
		start := time.Now()
		clock = func() time.Duration { return time.Since(start) }
	}
	cost, err := load.CastCost(d, clock)
	if err != nil {
		return ceiling{}, err
	}
	cores := runtime.GOMAXPROCS(0)
	wall, err := allCores(load, cores, d)
	if err != nil {
		return ceiling{}, err
	}
	return ceiling{PerCast: cost, Cores: cores, C: float64(cores) / cost.Seconds(), Wall: wall}, nil
}

// allCores verifies the load on n goroutines at once for d of the wall
// clock and returns the casts verified per second.
func allCores(load *ballottest.VerifyLoad, n int, d time.Duration) (float64, error) {
	start := time.Now()
	var casts atomic.Int64
	var g errgroup.Group
	for range n {
		g.Go(func() error {
			for time.Since(start) < d {
				if err := load.Verify(); err != nil {
					return err
				}
				casts.Add(int64(load.Len()))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(casts.Load()) / time.Since(start).Seconds(), nil
}

func (c ceiling) print(w io.Writer) {
	fmt.Fprintf(w, "ceiling C = %d cores × 1/%s per cast = %.0f casts/s (BenchmarkCastVerifyBatch -cpu 1's work, its CPU time measured in this run)\n",
		c.Cores, c.PerCast.Round(100*time.Nanosecond), c.C)
	fmt.Fprintf(w, "all %d cores verifying at once: %.0f casts/s by the wall clock = %.2f C, the most this machine gives one process now (a shared or virtual machine gives less than whole cores)\n",
		c.Cores, c.Wall, c.Wall/c.C)
}

// fraction prints one figure of the run and its ratio to C.
func (c ceiling) fraction(w io.Writer, what string, perSec float64) {
	fmt.Fprintf(w, "  %-28s %10.0f casts/s = %.2f C (%.2f of the %.0f/s all cores gave)\n", what, perSec, perSec/c.C, perSec/c.Wall, c.Wall)
}

// efficiency prints what share of the CPU time cpu that this process
// spent on n casts the ceiling's work accounts for (n × one cast's cost),
// and how much of the time Go's processors had work (busy, from the
// runtime's own accounting): a processor with nothing to run is a core
// the pipeline left waiting, whereas one whose thread the OS gave to
// another process still counts as busy. On a machine shared with other
// work both stay true when the wall-clock ratio to C does not, and their
// product is the ratio to expect on a quiet one.
func (c ceiling) efficiency(w io.Writer, n uint64, cpu time.Duration, busy float64) {
	if cpu <= 0 {
		return
	}
	work := time.Duration(n) * c.PerCast
	share := work.Seconds() / cpu.Seconds()
	fmt.Fprintf(w, "  %-28s %10s CPU, of which verification %s (%.2f); Go's processors busy %.2f of the time: %.2f C on a quiet machine\n", "",
		cpu.Round(10*time.Millisecond), work.Round(10*time.Millisecond), share, busy, min(share, 1)*busy)
}

// idleClock reads the time Go's processors spent with nothing to run and
// their total, both in CPU-seconds since the process started.
func idleClock() (idle, total float64) {
	s := []metrics.Sample{{Name: "/cpu/classes/idle:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 || s[1].Value.Kind() != metrics.KindFloat64 {
		return 0, 0
	}
	return s[0].Value.Float64(), s[1].Value.Float64()
}

// busySince is the share of the time since idleClock gave idle0, total0
// that Go's processors had work.
func busySince(idle0, total0 float64) float64 {
	idle, total := idleClock()
	if total <= total0 {
		return 0
	}
	return 1 - (idle-idle0)/(total-total0)
}
