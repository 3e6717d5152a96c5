package node

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the node's Prometheus metrics (docs/OPERATIONS.md §Metrics).
// Names follow Prometheus conventions: the cocorico_ prefix, units in the
// name, _total for counters.
type Metrics struct {
	Height          prometheus.Gauge
	BlockInterval   prometheus.Histogram
	BlockTxs        prometheus.Histogram
	BlockApply      prometheus.Histogram
	TxsAccepted     *prometheus.CounterVec
	TxsRejected     *prometheus.CounterVec
	CastVerify      prometheus.Histogram
	MempoolTxs      prometheus.Gauge
	MempoolBytes    prometheus.Gauge
	MempoolDropped  prometheus.Counter
	BlocksProposed  prometheus.Counter
	BlocksRefused   prometheus.Counter
	Peers           prometheus.Gauge
	GossipRejected  *prometheus.CounterVec
	SyncBehind      prometheus.Gauge
	SyncedBlocks    prometheus.Counter
	Evidence        prometheus.Gauge
	ConsensusRounds prometheus.Counter
	ConsensusRound  prometheus.Gauge
}

// NewMetrics registers the node's metrics on reg (and the Go and process
// collectors, and build info).
func NewMetrics(reg prometheus.Registerer, version string) *Metrics {
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		Height: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_height",
			Help: "Height of the last final block on this node."}),
		BlockInterval: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cocorico_block_interval_seconds",
			Help: "Block time between a final block and its parent.", Buckets: []float64{.1, .25, .5, 1, 2, 4, 8, 15, 30, 60}}),
		BlockTxs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cocorico_block_txs",
			Help: "Transactions per final block.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		BlockApply: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cocorico_block_apply_seconds",
			Help: "Time to apply and durably write a final block.", Buckets: prometheus.ExponentialBuckets(.0005, 2.5, 12)}),
		TxsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cocorico_txs_accepted_total",
			Help: "Transactions accepted into the mempool, by kind (cast, definition)."}, []string{"kind"}),
		TxsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cocorico_txs_rejected_total",
			Help: "Transactions refused, by reason (the API error code)."}, []string{"reason"}),
		CastVerify: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cocorico_cast_verify_seconds",
			Help: "Time to verify one cast (token and voter signature).", Buckets: prometheus.ExponentialBuckets(2e-5, 2, 12)}),
		MempoolTxs: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_mempool_txs",
			Help: "Transactions waiting in the mempool."}),
		MempoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_mempool_bytes",
			Help: "Size of the transactions waiting in the mempool."}),
		MempoolDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "cocorico_mempool_dropped_total",
			Help: "Pending transactions dropped because a final block made them invalid."}),
		BlocksProposed: prometheus.NewCounter(prometheus.CounterOpts{Name: "cocorico_blocks_proposed_total",
			Help: "Blocks this validator proposed."}),
		BlocksRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "cocorico_blocks_refused_total",
			Help: "Proposed blocks this node found invalid."}),
		Peers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_peers",
			Help: "Connected libp2p peers."}),
		GossipRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cocorico_gossip_rejected_total",
			Help: "Gossip messages rejected by the topic validators, by topic."}, []string{"topic"}),
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
	}
	for _, c := range []prometheus.Collector{m.Height, m.BlockInterval, m.BlockTxs, m.BlockApply, m.TxsAccepted,
		m.TxsRejected, m.CastVerify, m.MempoolTxs, m.MempoolBytes, m.MempoolDropped, m.BlocksProposed,
		m.BlocksRefused, m.Peers, m.GossipRejected, m.SyncBehind, m.SyncedBlocks, m.Evidence,
		m.ConsensusRounds, m.ConsensusRound} {
		f(c)
	}
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_build_info",
		Help:        "Build information; the value is 1.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion}})
	build.Set(1)
	f(build)
	return m
}

// NewRegistry returns a registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
