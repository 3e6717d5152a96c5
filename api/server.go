package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/cocorico/node/api/web"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// Chain is the read side of the ledger the API needs (store.Ledger).
type Chain interface {
	Height() uint64
	Header(height uint64) (*consensus.Header, error)
	Block(height uint64) (*consensus.Block, error)
	Tx(height uint64, index int) ([]byte, error)
	CommitAt(height uint64) (*consensus.Commit, error)
	TxLocation(id consensus.Hash) (height uint64, index int, err error)
}

// State is the read side of the ballot state the API needs (ballot.KVState).
type State interface {
	BallotAt(id consensus.Hash) (b *ballot.Ballot, height uint64, found bool, err error)
	BallotIndex(id consensus.Hash) (index int, found bool)
	Voter(id consensus.Hash, voter ballot.VoterKey) (ballot.VoterRecord, bool, error)
	// Count is the number of ballots; Page lists them newest first.
	Count() int
	Page(before, limit int) []consensus.Hash
	// Snapshot returns a ballot's results with the height they stand at
	// and their proof into the app hash, read at once.
	Snapshot(id consensus.Hash) (ballot.ResultsSnapshot, bool, error)
	// Keyring returns a sealed ballot's key generation.
	Keyring(id consensus.Hash) (*ballot.Keyring, bool, error)
	// Voters walks a ballot's voter records in voter key order, from the
	// first key above after (nil: the first); ballot.ErrStop ends it.
	VotersAfter(id consensus.Hash, after *ballot.VoterKey, fn func(ballot.VoterKey, ballot.VoterRecord) error) error
}

// Backend is what only the node knows.
type Backend interface {
	// Genesis is the chain's genesis.
	Genesis() *consensus.Genesis
	// Info describes this node: id, role, peers.
	Info() NodeInfo
	// Submit checks a transaction (every rule) and, if it passes, adds it
	// to the mempool and gossips it.
	Submit(ctx context.Context, tx []byte) (*ballot.Checked, error)
	// SubmitMany is Submit for many transactions at once; the results are
	// in the same order.
	SubmitMany(ctx context.Context, txs [][]byte) ([]*ballot.Checked, []error)
	// Admit reports whether the node takes transactions from clients now:
	// nil, or an error wrapping ballot.ErrOverloaded (the node is behind),
	// answered before the request's body is read.
	Admit() error
	// Pending reports whether a transaction waits in the mempool.
	Pending(id consensus.Hash) bool
	// PendingCasts returns how many casts of a ballot wait in the mempool.
	PendingCasts(ballot consensus.Hash) int
}

// NodeInfo describes a node in /v1/status.
type NodeInfo struct {
	NodeID  string `json:"node_id"`
	Role    string `json:"role"`
	Peers   int    `json:"peers"`
	Version string `json:"version"`
	// Behind is how many blocks the node knows it lacks (sync progress).
	Behind uint64 `json:"behind"`
	// Mempool is the number of pending transactions.
	Mempool int `json:"mempool"`
	// SyncedBlocksPerSec and SyncedCastsPerSec are the follower's rates
	// over the last few seconds (a volunteer catching up).
	SyncedBlocksPerSec float64 `json:"synced_blocks_per_sec"`
	SyncedCastsPerSec  float64 `json:"synced_casts_per_sec"`
	// LedgerBase is the lowest height of the ledger's newest run of
	// blocks: 1 when it holds every block; a node that joined by state
	// sync has the snapshot's height until its back-fill ends.
	LedgerBase uint64 `json:"ledger_base"`
	// VerifiedFrom is the lowest height from which this node verified
	// every cast itself: 1 when it verified the whole chain; a node that
	// joined by state sync at h has h+1 (the blocks it back-fills are
	// checked against their commits only) until it has re-verified blocks
	// 1..h, then 1.
	VerifiedFrom uint64 `json:"verified_from"`
	// Snapshots are the heights of the state snapshots the node serves.
	Snapshots []uint64 `json:"snapshots"`
}

// Config configures a Server.
type Config struct {
	Chain   Chain
	State   State
	Backend Backend
	// Witnesses are the attestations and alarms the node has seen;
	// default none.
	Witnesses Witnesses
	// Gatherer serves /metrics; nil serves no metrics.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// MaxBodyBytes bounds request bodies; default 64 KiB.
	MaxBodyBytes int64
	// Pprof serves Go's profiles under /debug/pprof/ (for operators
	// measuring a node; off by default).
	Pprof bool
	// Clock is the node's clock, which ballot statuses follow; default
	// time.Now.
	Clock func() time.Time
	// Refusals bound the transactions one client address may send in
	// vain (zero fields: DefaultRefusalLimits).
	Refusals RefusalLimits
	// Bodies bound the transaction bodies held at once (zero fields:
	// DefaultBodyLimits); SmallBodies, apart, those of the endpoints of
	// one transaction (zero fields: DefaultSmallBodyLimits).
	Bodies      BodyLimits
	SmallBodies BodyLimits
	// Answers bound the encoded block answers held while they are written
	// (zero fields: DefaultAnswerLimits).
	Answers BodyLimits
}

// DefaultAnswerLimits bound the block answers being written: 96 MiB in
// all, 16 MiB for one client address (an answer larger than that is
// still sent to an address that holds no other).
var DefaultAnswerLimits = BodyLimits{Total: 96 << 20, PerAddress: 16 << 20}

// BlockEncoders is how many blocks the API reads and encodes at once;
// BlockEncodeWait how long a request waits for its turn.
const (
	BlockEncoders   = 4
	BlockEncodeWait = 5 * time.Second
)

// ReceiptVerifiers is how many receipts the API verifies at once;
// ReceiptVerifyWait how long a request waits for its turn (then 503
// overloaded). A receipt's checks cost about half a millisecond of
// signature verification, and a real receipt can be sent again and again
// at no cost to its sender (only a failed check costs an attempt, and an
// address's requests go one at a time): however many addresses ask, the
// node gives receipts one core at most (about 2,000 a second), never the
// cores its blocks need.
const (
	ReceiptVerifiers  = 1
	ReceiptVerifyWait = time.Second
)

// Server serves the API.
type Server struct {
	cfg   Config
	trees *treeCache
	mux   *http.ServeMux
	pages *web.Pages
	// refused throttles the addresses whose transactions are refused.
	refused *refusals
	// downloads holds a value per download of every cast under way.
	downloads chan struct{}
	// encoders holds a value per block being read and encoded; answers
	// the encoded blocks being written.
	encoders chan struct{}
	answers  *bodyBudget
	// verifiers holds a value per receipt being verified.
	verifiers chan struct{}
	// cutShortLog lets the line of a download cut short through once a
	// minute at most.
	cutShortLog rate.Sometimes
}

// New returns the API server of a node.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Witnesses == nil {
		cfg.Witnesses = noWitnesses{}
	}
	s := &Server{cfg: cfg, trees: newTreeCache(32), mux: http.NewServeMux(), refused: newRefusals(cfg.Refusals, cfg.Bodies, cfg.SmallBodies),
		downloads: make(chan struct{}, MaxCastsDownloads), encoders: make(chan struct{}, BlockEncoders),
		verifiers: make(chan struct{}, ReceiptVerifiers),
		answers:   newBodyBudgetOf(cfg.Answers, DefaultAnswerLimits), cutShortLog: rate.Sometimes{Interval: time.Minute}}
	pages, err := web.New(web.Config{Ballot: s.ballotPage, Missing: s.noEndpoint})
	if err != nil {
		cfg.Logger.Error("the citizen's pages are not served", "err", err)
	}
	s.pages = pages
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /v1/status", s.status)
	m.HandleFunc("GET /v1/genesis", s.genesis)
	m.HandleFunc("GET /v1/ballots", s.ballots)
	m.HandleFunc("POST /v1/ballots", s.refused.guard(plain(s.createBallot)))
	m.HandleFunc("GET /v1/ballots/{id}", s.ballot)
	m.HandleFunc("GET /v1/ballots/{id}/results", s.results)
	m.HandleFunc("GET /v1/ballots/{id}/keyring", s.keyring)
	m.HandleFunc("POST /v1/keykeepers", s.refused.guard(plain(s.submitKeykeeper)))
	m.HandleFunc("POST /v1/casts", s.refused.guard(plain(s.submitCast)))
	m.HandleFunc("POST /v1/casts/batch", s.refused.guard(s.submitCasts))
	m.HandleFunc("GET /v1/casts/{id}", s.castStatus)
	m.HandleFunc("GET /v1/casts/{id}/receipt", s.receipt)
	m.HandleFunc("POST /v1/receipts/verify", s.refused.guard(s.verifyReceipt))
	m.HandleFunc("GET /v1/blocks/latest", s.latestBlock)
	m.HandleFunc("GET /v1/blocks/{height}", s.block)
	m.HandleFunc("GET /v1/blocks/{height}/attestations", s.attestations)
	m.HandleFunc("GET /v1/alarms", s.alarms)
	m.HandleFunc("GET /v1/ballots/{id}/casts", s.casts)
	if s.cfg.Pprof {
		m.HandleFunc("/debug/pprof/", pprof.Index)
		m.HandleFunc("/debug/pprof/profile", pprof.Profile)
		m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if s.cfg.Gatherer != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	// The citizen's pages: /, /ballots/{id}, /vote/{id}, /check,
	// /embed.js, /assets/{name} (api/web).
	if s.pages != nil {
		s.pages.Register(m)
	}
	m.HandleFunc("/", s.noEndpoint)
}

// noEndpoint answers an address that is nothing here. A browser that
// followed a mistyped link reads a page in its language; a program, the
// API's JSON error.
func (s *Server) noEndpoint(w http.ResponseWriter, r *http.Request) {
	if methodNotAllowed(w, r, s.mux) {
		return
	}
	if s.pages != nil && web.WantsPage(r) && !strings.HasPrefix(r.URL.Path, "/v1/") {
		s.pages.NotFound(w, r)
		return
	}
	WriteError(w, fmt.Errorf("%w: no endpoint %s %s", ErrNotFound, r.Method, r.URL.Path))
}

// NoEndpoint answers a request that no other route of m takes (its "/"
// route): 405 method_not_allowed with Allow when the path is an endpoint
// of m for other methods, else 404 not_found.
func NoEndpoint(m *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !methodNotAllowed(w, r, m) {
			WriteError(w, fmt.Errorf("%w: no endpoint %s %s", ErrNotFound, r.Method, r.URL.Path))
		}
	}
}

// methodNotAllowed answers 405 with Allow, and reports true, when r's
// path is an endpoint of m for other methods than r's.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, m *http.ServeMux) bool {
	allow := allowed(r, m)
	if allow == "" || slices.Contains(strings.Split(allow, ", "), r.Method) {
		return false
	}
	w.Header().Set("Allow", allow)
	WriteError(w, fmt.Errorf("%w: %s %s: this endpoint takes %s", ErrMethodNotAllowed, r.Method, r.URL.Path, allow))
	return true
}

// allowed lists the methods r's path is served for ("GET, HEAD" or
// "POST"), "" if none: a path that is an endpoint for another method.
func allowed(r *http.Request, m *http.ServeMux) string {
	var allow []string
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		probe := &http.Request{Method: method, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := m.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, method)
			if method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	return strings.Join(allow, ", ")
}

// Handler returns the API's handler. The JSON API (/v1) allows any origin
// (CORS): any web site may read it and post casts, and the check page asks
// other nodes. The pages set their own headers (api/web).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			s.mux.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", "*")
		// A page on another site reads when to come back (429, 503) and
		// polls the results with their ETag (If-None-Match: 304).
		h.Set("Access-Control-Expose-Headers", "Retry-After, ETag")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, If-None-Match")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if err := checkQuery(r.URL.RawQuery); err != nil {
			WriteError(w, err)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// checkQuery refuses an API query string that is malformed (a bad %
// escape, a ';') or names a parameter twice: which value the handler would
// read is a guess the client did not make (docs/API.md §Errors).
func checkQuery(raw string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return fmt.Errorf("%w: query %s: %v", ErrBadRequest, quoteShort(raw), err)
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return fmt.Errorf("%w: query parameter %s given %d times", ErrBadRequest, quoteShort(k), len(vs))
		}
	}
	return nil
}

// HTTPServer is an http.Server that can stop at once (Stop) and that
// gives up its idle connections when it is busy (BusyConns).
type HTTPServer struct {
	*http.Server
	// busy is BusyConns: from this many connections open, an idle
	// keep-alive connection is closed rather than kept.
	busy  int
	mu    sync.Mutex
	open  int                   // connections open
	fresh map[net.Conn]struct{} // accepted, no request read yet
	idle  map[net.Conn]struct{} // between two requests (keep-alive)
}

// ReadTimeout bounds the time a client takes to send a request, its body
// included.
const ReadTimeout = 15 * time.Second

// BusyConns is how many open connections make the API's server busy:
// three quarters of DefaultConnLimits.Total. A busy server closes every
// connection that waits, idle, for the client's next request (and each
// that becomes idle), instead of keeping it for IdleTimeout: a few dozen
// addresses keeping their quota of connections alive with a request every
// two minutes would otherwise hold every slot and keep everyone else in
// the kernel's queue. A client whose idle connection was closed opens
// another (browsers and HTTP libraries do so by themselves).
var BusyConns = DefaultConnLimits.Total * 3 / 4

// NewHTTPServer returns an http.Server for h with timeouts on every phase,
// so that slow or stuck clients cannot hold a node's connections, and
// idle connections closed once BusyConns are open.
func NewHTTPServer(addr string, h http.Handler, logger *slog.Logger) *HTTPServer {
	s := &HTTPServer{busy: BusyConns, fresh: map[net.Conn]struct{}{}, idle: map[net.Conn]struct{}{}}
	s.Server = &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		ConnState:         s.connState,
	}
	return s
}

// connState follows each connection's state (http.Server.ConnState).
func (s *HTTPServer) connState(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.fresh, c)
	delete(s.idle, c)
	switch st {
	case http.StateNew:
		s.open++
		s.fresh[c] = struct{}{}
		if s.open >= s.busy {
			// A closed idle connection ends in its own goroutine
			// (StateClosed: counted out there).
			for ic := range s.idle {
				ic.Close()
				delete(s.idle, ic)
			}
		}
	case http.StateIdle:
		if s.open >= s.busy {
			c.Close()
			return
		}
		s.idle[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		s.open--
	}
}

// Stop stops serving: no new connection, the requests in flight get up to
// grace to end, then every connection is closed. net/http's Shutdown
// alone waits up to 5 s for a connection that never sent a request (a
// client's spare, opened ahead of need) before it counts it idle: a node
// stopped with Ctrl-C would hang that long. Stop closes those at once.
func (s *HTTPServer) Stop(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for c := range s.fresh {
			c.Close()
			delete(s.fresh, c)
		}
		s.mu.Unlock()
		select {
		case err := <-done:
			if err != nil {
				s.Close()
			}
			return err
		case <-tick.C:
		}
	}
}

func pathHash(r *http.Request, name string) (consensus.Hash, error) {
	h, err := consensus.ParseHash(r.PathValue(name))
	if err != nil {
		return h, fmt.Errorf("%w: %s: %v", ErrBadRequest, name, err)
	}
	return h, nil
}

// ballotPage answers web.Config.Ballot: whether ballot id's definition is
// final on this node and, if so, its registrars' origins, for the voting
// page's Content-Security-Policy. A failed read says known, with no
// registrar (the page's script then asks and says what it finds).
func (s *Server) ballotPage(id string) (known bool, origins []string) {
	h, err := consensus.ParseHash(id)
	if err != nil {
		return false, nil
	}
	b, _, found, err := s.cfg.State.BallotAt(h)
	if err != nil {
		return true, nil
	}
	if !found {
		return false, nil
	}
	// Every definition on the chain passed ballot.CheckRegistrarURL (a
	// validity rule): its hosts are names or addresses, fit for a
	// Content-Security-Policy.
	for _, r := range b.Def.Registrars {
		if o := web.Origin(r.URL); o != "" {
			origins = append(origins, o)
		}
	}
	return true, origins
}
