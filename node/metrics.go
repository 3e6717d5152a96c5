package node

import (
	"runtime/debug"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/p2p"
	"github.com/cocorico/node/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the node's own Prometheus metrics: the peer network, block
// sync and consensus (the application's are app.Metrics). Names follow
// Prometheus conventions: the cocorico_ prefix, units in the name, _total
// for counters (docs/OPERATIONS.md §What to watch).
type Metrics struct {
	Peers           prometheus.Gauge
	GossipRejected  *prometheus.CounterVec
	GossipDropped   *prometheus.CounterVec
	SyncBehind      prometheus.Gauge
	SyncedBlocks    prometheus.Counter
	Evidence        prometheus.Gauge
	ConsensusRounds prometheus.Counter
	ConsensusRound  prometheus.Gauge
	Alarms          prometheus.Counter
	AlarmClaims     prometheus.Counter
	// State sync: chunks restored, blocks back-filled, the ledger's base.
	SnapshotChunks   prometheus.Counter
	BackfilledBlocks prometheus.Counter
	LedgerBase       prometheus.Gauge
}

// NewMetrics registers the node's metrics and its build info on reg (the
// Go and process collectors come with NewRegistry).
func NewMetrics(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		Peers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_peers",
			Help: "Connected libp2p peers."}),
		GossipRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cocorico_gossip_rejected_total",
			Help: "Gossip messages rejected by the topic validators, by topic."}, []string{"topic"}),
		GossipDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cocorico_gossip_dropped_total",
			Help: "Gossip messages dropped as they arrived, before the router remembers them, by topic and why: ignored (of no use, told unchecked), unread (a peer's screen budget spent)."}, []string{"topic", "why"}),
		SyncBehind: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_sync_behind_blocks",
			Help: "Blocks this node knows it lacks."}),
		SyncedBlocks: prometheus.NewCounter(prometheus.CounterOpts{Name: "cocorico_sync_blocks_total",
			Help: "Blocks fetched from peers by block sync and applied."}),
		Evidence: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_evidence",
			Help: "Pieces of evidence of validator equivocation seen."}),
		ConsensusRounds: prometheus.NewCounter(prometheus.CounterOpts{Name: "cocorico_consensus_round_changes_total",
			Help: "Consensus rounds beyond the first of a height (timeouts, failed proposals)."}),
		ConsensusRound: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_consensus_round",
			Help: "Current consensus round of this validator."}),
		Alarms: prometheus.NewCounter(prometheus.CounterOpts{Name: "cocorico_alarms_total",
			Help: "Alarms raised or received of blocks this node refused itself: final blocks with a valid commit that it could not verify."}),
		AlarmClaims: prometheus.NewCounter(prometheus.CounterOpts{Name: "cocorico_alarm_claims_total",
			Help: "Peers' alarms kept of blocks this node verified or holds final: claims anyone can sign with a free key."}),
		SnapshotChunks: prometheus.NewCounter(prometheus.CounterOpts{Name: "cocorico_statesync_chunks_total",
			Help: "Snapshot chunks fetched, verified and written by state sync."}),
		BackfilledBlocks: prometheus.NewCounter(prometheus.CounterOpts{Name: "cocorico_backfill_blocks_total",
			Help: "Blocks before the ledger's base fetched, checked and stored by the back-fill."}),
		LedgerBase: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_ledger_base_height",
			Help: "Lowest height of the ledger's newest run of blocks: 1 when it holds every block, the snapshot's height after a state sync until the back-fill ends."}),
	}
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_build_info",
		Help:        "Build information; the value is 1.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion}})
	build.Set(1)
	offHeap := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cocorico_merkle_offheap_bytes",
		Help: "Bytes of Merkle-list hashes (the voter records' hashes kept for the app hash) the process holds outside Go's heap; a devnet's nodes share one process."},
		func() float64 { return float64(consensus.OffHeapBytes()) })
	reg.MustRegister(m.Peers, m.GossipRejected, m.GossipDropped, m.SyncBehind, m.SyncedBlocks, m.Evidence, m.AlarmClaims,
		m.ConsensusRounds, m.ConsensusRound, m.Alarms, m.SnapshotChunks, m.BackfilledBlocks, m.LedgerBase, build, offHeap)
	return m
}

// registerLedger registers the memory of the node's ledger that is not
// in Go's heap (Pebble's block cache and memtables): with
// process_resident_memory_bytes, go_memstats_sys_bytes and
// cocorico_merkle_offheap_bytes it accounts for the node's memory
// (docs/OPERATIONS.md §Ledger, "Memory"); and what the ledger wrote, the
// batches and the tables holding them, whose ratio is the cost of its
// compactions (§Ledger, "Writes").
func registerLedger(reg prometheus.Registerer, l *store.Ledger) {
	reg.MustRegister(ledgerStats{l: l,
		cache: prometheus.NewDesc("cocorico_ledger_cache_bytes",
			"Bytes in the ledger's Pebble block cache (the whole shared cache in a devnet).", nil, nil),
		memtables: prometheus.NewDesc("cocorico_ledger_memtable_bytes",
			"Bytes of the ledger's Pebble memtables: the one being filled, those being flushed or kept for reuse.", nil, nil),
		batches: prometheus.NewDesc("cocorico_ledger_batch_bytes_total",
			"Bytes of the batches this node committed to its ledger since it started (blocks, their commits and index, the state), as the write-ahead log took them.", nil, nil),
		tables: prometheus.NewDesc("cocorico_ledger_table_bytes_written_total",
			"Bytes Pebble wrote into the ledger's tables since the node started: memtables flushed and tables rewritten by compactions. Divided by cocorico_ledger_batch_bytes_total: the write amplification.", nil, nil)})
}

// ledgerStats collects the ledger's gauges and counters at each scrape.
type ledgerStats struct {
	l                                 *store.Ledger
	cache, memtables, batches, tables *prometheus.Desc
}

func (c ledgerStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.cache
	ch <- c.memtables
	ch <- c.batches
	ch <- c.tables
}

func (c ledgerStats) Collect(ch chan<- prometheus.Metric) {
	m, w := c.l.Memory(), c.l.Writes()
	ch <- prometheus.MustNewConstMetric(c.cache, prometheus.GaugeValue, float64(m.CacheBytes))
	ch <- prometheus.MustNewConstMetric(c.memtables, prometheus.GaugeValue, float64(m.MemTableBytes))
	ch <- prometheus.MustNewConstMetric(c.batches, prometheus.CounterValue, float64(w.Batches))
	ch <- prometheus.MustNewConstMetric(c.tables, prometheus.CounterValue, float64(w.Tables))
}

// NewRegistry returns a registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// driverMetrics reports consensus measures to Prometheus.
type driverMetrics struct{ m *Metrics }

func (d driverMetrics) Height(uint64)      {}
func (d driverMetrics) Round(r uint32)     { d.m.ConsensusRound.Set(float64(r)) }
func (d driverMetrics) RoundChanges(n int) { d.m.ConsensusRounds.Add(float64(n)) }
func (d driverMetrics) Evidence(n int)     { d.m.Evidence.Set(float64(n)) }

// p2pMetrics reports the network's measures to Prometheus.
type p2pMetrics struct{ m *Metrics }

func (p p2pMetrics) Peers(n int)           { p.m.Peers.Set(float64(n)) }
func (p p2pMetrics) Rejected(topic string) { p.m.GossipRejected.WithLabelValues(topic).Inc() }
func (p p2pMetrics) Dropped(topic, why string) {
	p.m.GossipDropped.WithLabelValues(topic, why).Inc()
}

// registerSyncAnswers registers what the host reports of the answers it
// serves to peers (block sync, consensus-message pulls, snapshot chunks)
// and of the large gossip messages it receives, read at each scrape.
func registerSyncAnswers(reg prometheus.Registerer, h *p2p.Host) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cocorico_sync_answer_bytes",
			Help: "Bytes held by the block-sync answers, consensus-message pulls and snapshot chunks this node is building or sending to peers (bounded: 128 MiB)."},
			func() float64 { b, _ := h.SyncAnswers(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cocorico_sync_answers_short_total",
			Help: "Block-sync answers served with fewer blocks than this node could give, consensus-message pulls answered without messages, and snapshot chunks answered busy, for lack of room in the answers' memory bound."},
			func() float64 { _, n := h.SyncAnswers(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cocorico_gossip_frame_bytes",
			Help: "Bytes held by the large gossip messages (proposals) being received from peers (bounded: 128 MiB, 48 MiB from one address)."},
			func() float64 { b, _ := h.GossipFrames(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cocorico_gossip_frames_refused_total",
			Help: "Large gossip messages whose stream was reset for lack of room in their memory bound."},
			func() float64 { _, n := h.GossipFrames(); return float64(n) }))
}
