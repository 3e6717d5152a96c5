package app

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the application's Prometheus metrics (docs/OPERATIONS.md
// §What to watch). NewMetrics registers them; NopMetrics is for tests and
// tools that register nothing.
type Metrics struct {
	Height         prometheus.Gauge
	BlockInterval  prometheus.Histogram
	BlockTxs       prometheus.Histogram
	BlockApply     prometheus.Histogram
	TxsAccepted    *prometheus.CounterVec
	TxsRejected    *prometheus.CounterVec
	CastVerify     prometheus.Histogram
	MempoolTxs     prometheus.Gauge
	MempoolBytes   prometheus.Gauge
	MempoolDropped prometheus.Counter
	BlocksProposed prometheus.Counter
	BlocksRefused  prometheus.Counter
}

// NewMetrics makes the application's metrics and registers them on reg
// (nil: registered nowhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
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
			Help: "Time to verify one cast (token and voter signature): a request's or message's time from its cheap rules to its verdicts, its wait for a verifier slot included, over its casts.", Buckets: prometheus.ExponentialBuckets(2e-5, 2, 12)}),
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
	}
	if reg != nil {
		reg.MustRegister(m.Height, m.BlockInterval, m.BlockTxs, m.BlockApply, m.TxsAccepted,
			m.TxsRejected, m.CastVerify, m.MempoolTxs, m.MempoolBytes, m.MempoolDropped, m.BlocksProposed, m.BlocksRefused)
	}
	return m
}

// NopMetrics are metrics registered nowhere.
func NopMetrics() *Metrics { return NewMetrics(nil) }
