package sim

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	seedFlag = flag.Uint64("seed", 0, "replay this one simulation seed (with -run TestSafety)")
	simsFlag = flag.Int("sims", 2000, "number of seeded simulations in TestSafety")
)

// minAfterGST is the progress every correct validator must make in the
// five simulated seconds after GST.
const minAfterGST = 5

// configFor derives a whole simulation from its seed: 4 or 7 validators,
// f of them faulty (silent or equivocating, mixed), drops, partitions and
// crashes before GST.
func configFor(seed uint64) Config {
	n := 4
	if seed%2 == 1 {
		n = 7
	}
	f := (n - 1) / 3
	faults := map[int]Fault{}
	for i := range f {
		k := Fault(1 + (seed/2+uint64(i))%2)
		faults[int((seed/4+uint64(i)*3)%uint64(n))] = k
	}
	return Config{
		Seed: seed, Validators: n, Faults: faults,
		Duration: 8 * time.Second, GST: 3 * time.Second,
		MaxDelay: 40 * time.Millisecond, DropRate: 0.1 * float64(seed%3),
		Partitions: seed%5 < 2, Crashes: seed%7 < 3,
	}
}

// Across thousands of seeded runs with every fault kind mixed, no two
// correct validators decide different blocks at a height, every decision
// carries a valid quorum commit, and after GST every correct validator
// keeps deciding.
func TestSafetyAndLivenessAcrossSeededSimulations(t *testing.T) {
	seeds := make([]uint64, 0, *simsFlag)
	if *seedFlag != 0 {
		seeds = append(seeds, *seedFlag)
	} else {
		n := *simsFlag
		if testing.Short() {
			n = 200
		}
		for s := uint64(1); s <= uint64(n); s++ {
			seeds = append(seeds, s)
		}
	}
	var next atomic.Int64
	var mu sync.Mutex
	var failures []string
	var stalled []uint64
	var heights, rounds, evidence atomic.Int64
	var rate [2]float64
	var rateN [2]int
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(seeds) {
					return
				}
				cfg := configFor(seeds[i])
				res, err := Run(cfg)
				mu.Lock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("%v (replay: go test ./consensus/sim -run TestSafety -seed %d)", err, seeds[i]))
				} else if res.DecidedAfterGST < minAfterGST {
					stalled = append(stalled, seeds[i])
				}
				k := 0
				if cfg.Validators == 7 {
					k = 1
				}
				rate[k] += res.HeightsPerSecond(cfg)
				rateN[k]++
				mu.Unlock()
				heights.Add(int64(res.Decided))
				rounds.Add(int64(res.RoundChanges))
				evidence.Add(int64(res.Evidence))
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	for _, s := range stalled {
		t.Errorf("seed %d: fewer than %d heights after GST; state at the end:\n%s", s, minAfterGST, Describe(configFor(s)))
	}
	t.Logf("%d simulations in %s: %d heights decided, %d round changes, %d evidence; after GST %.1f heights/s (4 validators), %.1f (7)",
		len(seeds), time.Since(start).Round(time.Millisecond), heights.Load(), rounds.Load(), evidence.Load(),
		rate[0]/float64(max(rateN[0], 1)), rate[1]/float64(max(rateN[1], 1)))
}
