// Package registrarapi is the registrar's HTTP face: per-ballot RSA keys
// for organizers (an admin endpoint, off unless a token is configured),
// one blind signature per voter per ballot for voters, the published
// count of tokens issued, and /metrics. The rules are ballot/registrar's;
// the service that checks, signs and records is behind the Service
// interface declared here (node/issuer implements it, node wires it).
package registrarapi

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/throttle"
	"golang.org/x/time/rate"
)

// Service is what the HTTP layer needs of the registrar.
type Service interface {
	// IssueToken answers a token request from the client address from.
	IssueToken(ctx context.Context, req registrar.Request, from netip.Addr) ([]byte, error)
	// NewKey makes and keeps a fresh key for one ballot.
	NewKey(bits int) (id consensus.Hash, der []byte, err error)
	// Issued is the number of tokens issued for a ballot.
	Issued(ballot consensus.Hash) uint64
	// Status is the number of voters on the roll and of ballot keys.
	Status() (voters, keys int, err error)
}

// Config configures the handler.
type Config struct {
	Service Service
	// AdminToken, if set, is required (Authorization: Bearer) by the
	// admin endpoints; if empty they are off (403 admin_disabled).
	AdminToken string
	// ClientIPHeader, if set, names the header a trusted reverse proxy
	// puts the client's address in (X-Forwarded-For: its last entry;
	// any other header: its whole value). Off by default: the client is
	// the connection's remote address, which a client cannot forge.
	ClientIPHeader string
	// Login, if set, serves the OpenID Connect login (POST
	// /v1/login/start, GET /v1/login/callback); if nil, they answer
	// 404 login_disabled.
	Login Login
	// Gatherer, if set, is served at GET /metrics.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
}

// KeyRequest asks for a new per-ballot key. The admin token goes in the
// Authorization header; AdminToken in the body is still read, for older
// clients.
type KeyRequest struct {
	Bits       int    `json:"bits"`
	AdminToken string `json:"admin_token,omitempty"`
}

// KeyView is a new key: its id and its DER public key, to put in a
// ballot definition.
type KeyView struct {
	KeyID     consensus.Hash `json:"key_id"`
	PublicKey []byte         `json:"public_key"`
	Bits      int            `json:"bits"`
}

// TokenRequest is a voter's request for a blind signature.
type TokenRequest struct {
	BallotID consensus.Hash `json:"ballot_id"`
	VoterID  string         `json:"voter_id,omitempty"`
	Code     string         `json:"code,omitempty"`
	// Session is a login's session, in place of voter_id and code.
	Session string `json:"session,omitempty"`
	Blinded []byte `json:"blinded"`
}

// TokenView is the blind signature.
type TokenView struct {
	BlindSignature []byte `json:"blind_signature"`
}

// IssuanceView is the count of tokens issued for a ballot.
type IssuanceView struct {
	BallotID     consensus.Hash `json:"ballot_id"`
	TokensIssued uint64         `json:"tokens_issued"`
}

// StatusView is the registrar's status.
type StatusView struct {
	Voters int  `json:"voters"`
	Keys   int  `json:"keys"`
	Admin  bool `json:"admin"` // admin endpoints on
	// Login is set when the registrar logs voters in with OpenID
	// Connect: the voting page then offers "log in with" its provider.
	Login *LoginStatusView `json:"login,omitempty"`
}

// LoginStatusView says how the registrar's login is reached.
type LoginStatusView struct {
	// Provider is the provider's name as voters know it.
	Provider string `json:"provider"`
}

type handler struct {
	cfg Config
	// adminMu guards adminFails: wrong admin tokens per client address
	// (AdminBurst at once, then one every AdminEvery); an address out of
	// them is refused with 429 before the token is compared.
	adminMu    sync.Mutex
	adminFails *throttle.Buckets
	// adminLog lets a wrong admin token's log line through once a second
	// at most: rotating addresses each have AdminBurst tries.
	adminLog rate.Sometimes
}

// AdminBurst wrong admin tokens from one client address at once, then one
// every AdminEvery.
const (
	AdminBurst = 10
	AdminEvery = 6 * time.Second
)

// NewHandler returns the registrar's HTTP handler.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &handler{cfg: cfg, adminFails: throttle.NewBuckets(AdminBurst, AdminEvery, 4096), adminLog: rate.Sometimes{Interval: time.Second}}
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/keys", h.newKey)
	m.HandleFunc("POST /v1/tokens", h.token)
	m.HandleFunc("GET /v1/ballots/{id}/issuance", h.issuance)
	m.HandleFunc("GET /v1/status", h.status)
	m.HandleFunc("POST /v1/login/start", h.loginStart)
	m.HandleFunc("GET /v1/login/callback", h.loginCallback)
	if cfg.Gatherer != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	m.HandleFunc("/", api.NoEndpoint(m))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		// CORS only for what a voting page needs (docs/API.md): the login
		// for the allowed origins, the token request from any node's origin
		// (it carries no credentials, its body does), and the public reads.
		// The admin endpoint gets none.
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/login/"):
			h.loginCORS(w, r, m)
			return
		case r.URL.Path == "/v1/tokens":
			w.Header().Set("Access-Control-Allow-Origin", "*")
			// A voting page tells a locked-out voter how long to wait.
			w.Header().Set("Access-Control-Expose-Headers", "Retry-After")
			if r.Method == http.MethodOptions {
				w.Header().Set("Access-Control-Allow-Methods", "POST")
				w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
				w.Header().Set("Access-Control-Max-Age", "86400")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		case r.Method == http.MethodGet && (r.URL.Path == "/v1/status" || strings.HasPrefix(r.URL.Path, "/v1/ballots/")):
			// The public reads only (the issuance counts a results page
			// shows); not the metrics, nor an admin or unknown path.
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		m.ServeHTTP(w, r)
	})
}

func (h *handler) newKey(w http.ResponseWriter, r *http.Request) {
	if h.cfg.AdminToken == "" {
		api.WriteError(w, api.ErrAdminOff)
		return
	}
	var req KeyRequest
	if err := api.ReadJSON(w, r, 4<<10, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	token := req.AdminToken
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = auth
	}
	addr := registrar.AddressKey(api.ClientAddr(r, h.cfg.ClientIPHeader))
	h.adminMu.Lock()
	wait := h.adminFails.Wait(addr, time.Now())
	h.adminMu.Unlock()
	if wait > 0 {
		api.WriteError(w, &registrar.RetryError{Err: registrar.ErrThrottled, After: wait})
		return
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(h.cfg.AdminToken)) != 1 {
		h.adminMu.Lock()
		h.adminFails.Take(addr, time.Now())
		h.adminMu.Unlock()
		h.adminLog.Do(func() { h.cfg.Logger.Warn("wrong admin token", "addr", addr) })
		api.WriteError(w, api.ErrUnauthorized)
		return
	}
	id, der, err := h.cfg.Service.NewKey(req.Bits)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	bits := req.Bits
	if bits == 0 {
		bits = ballot.KeyBits2048
	}
	api.WriteJSON(w, http.StatusCreated, KeyView{KeyID: id, PublicKey: der, Bits: bits})
}

func (h *handler) token(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if err := api.ReadJSON(w, r, 8<<10, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	sig, err := h.cfg.Service.IssueToken(r.Context(), registrar.Request{Ballot: req.BallotID, VoterID: req.VoterID,
		Code: req.Code, Session: req.Session, Blinded: req.Blinded}, api.ClientAddr(r, h.cfg.ClientIPHeader))
	if err != nil {
		if status, _ := api.ErrorCode(err); status >= 500 && status != http.StatusServiceUnavailable {
			h.cfg.Logger.Error("token request failed", "err", err)
		}
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, TokenView{BlindSignature: sig})
}

func (h *handler) issuance(w http.ResponseWriter, r *http.Request) {
	id, err := consensus.ParseHash(r.PathValue("id"))
	if err != nil {
		api.WriteError(w, fmt.Errorf("%w: %v", api.ErrBadRequest, err))
		return
	}
	api.WriteJSON(w, http.StatusOK, IssuanceView{BallotID: id, TokensIssued: h.cfg.Service.Issued(id)})
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	voters, keys, err := h.cfg.Service.Status()
	if err != nil {
		api.WriteError(w, err)
		return
	}
	v := StatusView{Voters: voters, Keys: keys, Admin: h.cfg.AdminToken != ""}
	if h.cfg.Login != nil {
		v.Login = &LoginStatusView{Provider: h.cfg.Login.ProviderName()}
	}
	api.WriteJSON(w, http.StatusOK, v)
}
