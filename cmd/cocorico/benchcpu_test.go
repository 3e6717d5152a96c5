package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The bench counts the CPU of each process behind its nodes once: nodes
// whose metrics give the same process start time are one process (a
// devnet's), another start time is another process; a page without the
// process figures is an error, and a process that restarted during the
// window makes the figure unknown rather than wrong.
func TestBenchCountsEachNodeProcessOnceAndRefusesAPageWithoutItsCPU(t *testing.T) {
	var cpuA, cpuB = "10.5", "3"
	page := func(start string, cpu *string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n" +
				"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total " + *cpu + "\n" +
				"process_start_time_seconds " + start + "\ncocorico_height 7\n"))
		}))
	}
	a1, a2, b := page("1.79e+09", &cpuA), page("1.79e+09", &cpuA), page("1.7900001e+09", &cpuB)
	for _, s := range []*httptest.Server{a1, a2, b} {
		defer s.Close()
	}
	w := newCPUWindow([]string{a1.URL, a2.URL, b.URL})
	w.hook(true)
	cpuA, cpuB = "12.5", "3.5"
	w.hook(false)
	cpu, processes, ok := w.nodesCPU()
	if !ok || processes != 2 || cpu != 2500*time.Millisecond {
		t.Fatalf("nodes' CPU %v in %d processes (known %v), want 2.5s in 2", cpu, processes, ok)
	}

	restarted := page("1.8e+09", &cpuA)
	defer restarted.Close()
	w = newCPUWindow([]string{a1.URL})
	w.hook(true)
	w.urls = []string{restarted.URL}
	w.hook(false)
	if _, _, ok := w.nodesCPU(); ok {
		t.Fatal("a process that restarted during the window was counted")
	}

	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("go_goroutines 12\n")) }))
	defer bare.Close()
	if _, err := processesCPU(context.Background(), []string{bare.URL}); err == nil || !strings.Contains(err.Error(), "no process_cpu_seconds_total") {
		t.Fatalf("a page without the process figures: %v", err)
	}
	w = newCPUWindow([]string{bare.URL})
	w.hook(true)
	w.hook(false)
	if _, _, ok := w.nodesCPU(); ok {
		t.Fatal("a node whose CPU could not be read was counted")
	}
}
