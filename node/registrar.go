package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/time/rate"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node/issuer"
	"github.com/cocorico/node/node/login"
	"github.com/cocorico/node/store"
)

// RegistrarConfig configures a registrar service.
type RegistrarConfig struct {
	// Home is the registrar's folder; its store is in Home/data/registry.
	Home string
	// Listen is the HTTP address (host:port; port 0 picks one).
	Listen string
	// NodeURL is a node of the chain, to read ballot definitions from.
	NodeURL string
	// Roll, if set, is a CSV voter roll (voter_id,code) to import: codes
	// are stored as salted slow hashes only.
	Roll string
	// HashParams are the code hash's cost; default registrar.DefaultHashParams.
	HashParams registrar.HashParams
	// AdminToken, if set, is required to create ballot keys; if empty,
	// the admin endpoints are off. cmd reads it from a file or the
	// environment, never from the command line.
	AdminToken string
	// ClientIPHeader, if set, is the header a trusted reverse proxy puts
	// the client's address in (registrarapi.Config); off by default.
	ClientIPHeader string
	// Throttle, MaxChecks and CheckWait bound the guessing of codes
	// (issuer.Config); zero values take the documented defaults.
	Throttle  registrar.ThrottleConfig
	MaxChecks int
	CheckWait time.Duration
	// Login, if set, turns the OpenID Connect login on (ReadRegistrarFile).
	Login  *login.Config
	Logger *slog.Logger
	Clock  func() time.Time
}

// Registrar is a running registrar service.
type Registrar struct {
	cfg RegistrarConfig
	reg *store.Registry
	svc *issuer.Service
	h   http.Handler
	ln  net.Listener
}

// MinAdminTokenBytes is the shortest admin token a registrar takes: its
// wrong guesses are throttled per address, but an address's few guesses
// a minute, from many addresses, must still find nothing.
const MinAdminTokenBytes = 16

// NewRegistrar opens the registrar's store, imports the roll and binds
// its listener.
func NewRegistrar(cfg RegistrarConfig) (*Registrar, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HashParams == (registrar.HashParams{}) {
		cfg.HashParams = registrar.DefaultHashParams
	}
	if cfg.NodeURL == "" {
		return nil, errors.New("registrar: a node URL is needed to read ballots")
	}
	if n := len(cfg.AdminToken); n > 0 && n < MinAdminTokenBytes {
		return nil, fmt.Errorf("registrar: the admin token has %d characters, at least %d are needed (make one with: openssl rand -hex 32)", n, MinAdminTokenBytes)
	}
	dir := filepath.Join(cfg.Home, "data", "registry")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	reg, err := store.OpenRegistry(dir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	r := &Registrar{cfg: cfg, reg: reg}
	if cfg.Roll != "" {
		if err := r.importRoll(cfg.Roll); err != nil {
			reg.Close()
			return nil, err
		}
	}
	metrics := NewRegistry() // with the Go and process collectors
	r.svc, err = issuer.New(issuer.Config{Registry: reg, Ballots: nodeBallots{client.NewNode(cfg.NodeURL), cfg.Logger, &rate.Sometimes{Interval: 10 * time.Second}},
		HashParams: cfg.HashParams, Throttle: cfg.Throttle, MaxChecks: cfg.MaxChecks, CheckWait: cfg.CheckWait,
		Clock: cfg.Clock, Logger: cfg.Logger, Metrics: issuer.NewMetrics(metrics)})
	if err != nil {
		reg.Close()
		return nil, err
	}
	hc := registrarapi.Config{Service: r.svc, AdminToken: cfg.AdminToken,
		ClientIPHeader: cfg.ClientIPHeader, Gatherer: metrics, Logger: cfg.Logger}
	if cfg.Login != nil {
		lc := *cfg.Login
		lc.Clock, lc.Logger = cfg.Clock, cfg.Logger
		l, err := login.New(lc, r.svc)
		if err != nil {
			reg.Close()
			return nil, err
		}
		hc.Login = l
		cfg.Logger.Info("registrar login on", "issuer", lc.Issuer, "acr_values", lc.ACRValues, "eligibility", lc.Eligibility.NeedsClaims())
	}
	r.h = registrarapi.NewHandler(hc)
	if cfg.AdminToken == "" {
		cfg.Logger.Info("registrar admin endpoints off: no admin token configured")
	}
	if r.ln, err = listenLimited(cfg.Listen, cfg.ClientIPHeader); err != nil {
		reg.Close()
		return nil, fmt.Errorf("registrar: %w", err)
	}
	return r, nil
}

func (r *Registrar) importRoll(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	entries, err := registrar.ParseRoll(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	start := time.Now()
	added, err := issuer.ImportRoll(context.Background(), r.reg, entries, r.cfg.HashParams, rand.Reader)
	if err != nil {
		return err
	}
	r.cfg.Logger.Info("voter roll imported", "file", path, "voters", len(entries), "new", added, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// URL returns the registrar's base URL.
func (r *Registrar) URL() string { return "http://" + r.ln.Addr().String() }

// The registrar's service is what its HTTP face needs.
var _ registrarapi.Service = (*issuer.Service)(nil)

// The registrar's service is what the login needs.
var _ login.Issuer = (*issuer.Service)(nil)

// Run serves until ctx ends.
func (r *Registrar) Run(ctx context.Context) error {
	srv := api.NewHTTPServer("", r.h, r.cfg.Logger)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(r.ln) }()
	r.cfg.Logger.Info("registrar serving", "url", r.URL())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	srv.Stop(5 * time.Second)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if cerr := r.reg.Close(); err == nil {
		err = cerr
	}
	return err
}

// nodeBallots reads ballots from a node, checked by their ids.
type nodeBallots struct {
	n      *client.Node
	logger *slog.Logger
	// silence logs the node's silence once every 10 s at most, whatever
	// the requests that meet it.
	silence *rate.Sometimes
}

func (nb nodeBallots) Ballot(ctx context.Context, id consensus.Hash) (*ballot.Ballot, error) {
	b, _, err := nb.n.Ballot(ctx, id)
	switch {
	case client.IsCode(err, "not_found"):
		return nil, fmt.Errorf("%w: %s (not final on the registrar's node)", ballot.ErrUnknownBallot, id)
	case err != nil && ctx.Err() == nil:
		// The node is down, refusing or answering nonsense: the client may
		// retry (503 unavailable, Retry-After), not an internal fault. The
		// node's address and its words stay in the registrar's log.
		nb.silence.Do(func() {
			nb.logger.Warn("the node did not answer a ballot's definition (logged once every 10 s at most)", "ballot", id.Short(), "err", err)
		})
		return nil, fmt.Errorf("%w: the registrar cannot read the ballot from its node now", api.ErrUnavailable)
	}
	return b, err
}
