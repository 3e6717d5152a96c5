package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cpuWindow measures, over the bench's timed window, the CPU time of the
// processes behind the nodes (each node's process_cpu_seconds_total, from
// its /metrics) and of the bench itself, so that the report can say what
// a final cast cost in all and how much of that the verification is: the
// figure that bounds final casts/s on a machine that runs both.
type cpuWindow struct {
	urls       []string
	before     map[string]float64 // process → CPU seconds at the window's start
	after      map[string]float64
	own0, own1 time.Duration
	failed     error // a node's metrics could not be read
}

func newCPUWindow(urls []string) *cpuWindow { return &cpuWindow{urls: urls} }

// hook is the bench's OnWindow hook: it samples at the open and at the close.
func (w *cpuWindow) hook(open bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := processesCPU(ctx, w.urls)
	if err != nil {
		w.failed = err
	}
	if open {
		w.before, w.own0 = m, processCPU()
		return
	}
	w.after, w.own1 = m, processCPU()
}

// nodesCPU is the CPU time the nodes' processes used during the window,
// and how many processes they are; ok is false when it is not known.
func (w *cpuWindow) nodesCPU() (cpu time.Duration, processes int, ok bool) {
	if w.failed != nil || len(w.before) == 0 {
		return 0, 0, false
	}
	var sec float64
	for p, s1 := range w.after {
		s0, found := w.before[p]
		if !found {
			return 0, 0, false // a node restarted during the window
		}
		sec += s1 - s0
	}
	return time.Duration(sec * float64(time.Second)), len(w.after), true
}

// processesCPU reads each node's /metrics and returns the CPU seconds of
// each distinct process behind them. Nodes in one process (a devnet's)
// each export the same process figures: a process is told apart by its
// start time (process_start_time_seconds, to the clock tick).
func processesCPU(ctx context.Context, urls []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, u := range urls {
		start, cpu, err := processMetrics(ctx, strings.TrimRight(u, "/")+"/metrics")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u, err)
		}
		out[start] = cpu
	}
	return out, nil
}

// metricsBytes bounds what is read of a node's /metrics (a node's are
// tens of kilobytes).
const metricsBytes = 4 << 20

// processMetrics reads process_start_time_seconds (as written, the
// process's identity) and process_cpu_seconds_total from a Prometheus
// text exposition.
func processMetrics(ctx context.Context, url string) (start string, cpu float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("metrics: %s", resp.Status)
	}
	return parseProcessMetrics(io.LimitReader(resp.Body, metricsBytes))
}

func parseProcessMetrics(r io.Reader) (start string, cpu float64, err error) {
	haveCPU := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		switch {
		case !ok:
		case name == "process_start_time_seconds":
			start = value
		case name == "process_cpu_seconds_total":
			if cpu, err = strconv.ParseFloat(value, 64); err != nil {
				return "", 0, fmt.Errorf("process_cpu_seconds_total %q: %w", value, err)
			}
			haveCPU = true
		}
	}
	if err := sc.Err(); err != nil {
		return "", 0, err
	}
	if !haveCPU || start == "" {
		return "", 0, fmt.Errorf("no process_cpu_seconds_total or process_start_time_seconds (a build without the process collector, or not a node)")
	}
	return start, cpu, nil
}

// cpuPerCast prints what a final cast cost in CPU during the window: in
// the nodes' processes and in this bench; the verification's part of it
// (each of the n nodes verifies every cast: n × one cast's cost); and the
// final casts/s the machine's cores could give at that cost, as a
// fraction of C. The gap between that and the measured rate is time the
// cores were idle or given to other programs.
func (c ceiling) cpuPerCast(w io.Writer, win *cpuWindow, nodes, final int) {
	nodesCPU, processes, ok := win.nodesCPU()
	if !ok || final == 0 {
		if win.failed != nil {
			fmt.Fprintf(w, "  %-28s not known: %v\n", "CPU per final cast", win.failed)
		}
		return
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(final) }
	nodesUs, benchUs := per(nodesCPU), per(win.own1-win.own0)
	castUs := float64(c.PerCast.Nanoseconds()) / 1000
	verifyUs := float64(nodes) * castUs
	total := nodesUs + benchUs
	most := float64(c.Cores) / total * 1e6
	fmt.Fprintf(w, "  %-28s %.0f µs in the nodes' %s + %.0f µs in this bench = %.0f µs: %d cores give at most %.0f casts/s at that cost = %.2f C\n",
		"CPU per final cast", nodesUs, plural(processes, "process", "processes"), benchUs, total, c.Cores, most, most/c.C)
	on := "the node"
	if nodes > 1 {
		on = fmt.Sprintf("each of the %d nodes", nodes)
	}
	fmt.Fprintf(w, "  %-28s verifying it on %s: %d × %.1f µs = %.0f µs (%.2f of it); the rest %.1f µs a node and %.1f µs the bench\n",
		"", on, nodes, castUs, verifyUs, verifyUs/total, (nodesUs-verifyUs)/float64(nodes), benchUs)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
