package issuer

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the registrar's Prometheus metrics (docs/OPERATIONS.md,
// registrar).
type Metrics struct {
	// Requests counts token requests by result: issued, reissued,
	// not_authorized, session_invalid, throttled, overloaded, already_issued,
	// refused.
	Requests *prometheus.CounterVec
	// Logins counts finished logins by result: session, failed,
	// not_eligible.
	Logins *prometheus.CounterVec
	// Lockouts counts the lockouts started, by scope: voter, address.
	Lockouts *prometheus.CounterVec
	// ChecksInFlight is the number of slow code hashes running.
	ChecksInFlight prometheus.Gauge
	// ThrottleEntries is the size of the throttle's tables (voter, lockout,
	// address, right).
	ThrottleEntries *prometheus.GaugeVec
}

// NewMetrics makes the metrics and registers them on reg; a nil reg
// registers nothing (the no-op default).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cocorico_registrar_token_requests_total",
			Help: "Token requests, by result (issued, reissued, not_authorized, session_invalid, throttled, overloaded, already_issued, refused)."}, []string{"result"}),
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cocorico_registrar_logins_total",
			Help: "Finished OpenID Connect logins, by result (session, failed, not_eligible)."}, []string{"result"}),
		Lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cocorico_registrar_lockouts_total",
			Help: "Lockouts started by wrong codes, by scope (voter, address)."}, []string{"scope"}),
		ChecksInFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cocorico_registrar_code_checks_in_flight",
			Help: "Slow code hashes running now (at most the configured bound)."}),
		ThrottleEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cocorico_registrar_throttle_entries",
			Help: "Entries in the throttle's tables, by table (voter: ids with wrong codes, lockout: ids with a series of lockouts, address, right: ids with right codes)."}, []string{"table"}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Logins, m.Lockouts, m.ChecksInFlight, m.ThrottleEntries)
	}
	return m
}
