package node

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// The metrics of a live node pass `promtool check metrics` (Prometheus's
// own lint of names, units and help). CI installs promtool (Debian's
// package prometheus); without it the test says so and skips.
func TestLiveNodeMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	info, stop := runDevnet(t, t.TempDir(), 1, 10)
	defer stop()
	resp, err := http.Get(info.Nodes[0].API + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"cocorico_height", "cocorico_txs_accepted_total", "cocorico_block_apply_seconds_bucket",
		"cocorico_mempool_txs", "cocorico_peers", "cocorico_ledger_cache_bytes", "cocorico_ledger_memtable_bytes", "cocorico_ledger_batch_bytes_total", "cocorico_ledger_table_bytes_written_total", "cocorico_sync_answer_bytes", "cocorico_sync_answers_short_total", "cocorico_gossip_frame_bytes", "cocorico_gossip_frames_refused_total", "cocorico_merkle_offheap_bytes", "cocorico_build_info", "cocorico_consensus_round_changes_total"} {
		if !bytes.Contains(body, []byte(name)) {
			t.Errorf("metric %s missing", name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
