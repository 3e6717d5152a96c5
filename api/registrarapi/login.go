package registrarapi

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
)

// Login is what the HTTP layer needs of the OpenID Connect login
// (node/login implements it).
type Login interface {
	// Start begins a login for a ballot and returns the provider's
	// authorization URL.
	Start(ctx context.Context, ballot consensus.Hash, returnURL string, from netip.Addr) (string, error)
	// Finish ends a login from the provider's callback: where to send
	// the browser back (empty if the state is unknown) and the session,
	// or the refusal.
	Finish(ctx context.Context, state, code, providerError string, from netip.Addr) (ret registrar.Return, session string, ttl time.Duration, err error)
	// AllowedOrigins are the origins of the pages that may drive a login.
	AllowedOrigins() []string
	// ProviderName is the provider's name as voters know it, for the
	// voting page's login button.
	ProviderName() string
}

// LoginStartRequest asks to start a login for a ballot: the browser comes
// back to ReturnURL with the session (docs/API.md, login).
type LoginStartRequest struct {
	BallotID  consensus.Hash `json:"ballot_id"`
	ReturnURL string         `json:"return_url"`
}

// LoginStartView is where to send the voter's browser: the provider.
type LoginStartView struct {
	AuthorizationURL string `json:"authorization_url"`
}

// loginCORS serves the login endpoints to pages of the allowed origins
// only: a preflight (OPTIONS) of POST /v1/login/start from another
// origin gets no Access-Control-Allow-Origin, so its browser sends
// nothing. The callback is a top-level navigation: no CORS.
func (h *handler) loginCORS(w http.ResponseWriter, r *http.Request, next http.Handler) {
	origin := r.Header.Get("Origin")
	allowed := h.cfg.Login != nil && origin != "" && slices.Contains(h.cfg.Login.AllowedOrigins(), origin)
	if allowed && r.URL.Path == "/v1/login/start" {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Expose-Headers", "Retry-After") // a 429's wait
		w.Header().Add("Vary", "Origin")
	}
	if r.Method == http.MethodOptions {
		if allowed {
			w.Header().Set("Access-Control-Allow-Methods", "POST")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	next.ServeHTTP(w, r)
}

func (h *handler) loginStart(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Login == nil {
		api.WriteError(w, registrar.ErrLoginOff)
		return
	}
	var req LoginStartRequest
	if err := api.ReadJSON(w, r, 4<<10, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	u, err := h.cfg.Login.Start(r.Context(), req.BallotID, req.ReturnURL, api.ClientAddr(r, h.cfg.ClientIPHeader))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, LoginStartView{AuthorizationURL: u})
}

// loginCallback is where the provider sends the browser back. The
// browser is sent on to the login's return URL with, in the fragment (a
// page) or the query (a loopback port of the command line), either
// session, ballot_id and expires_in, or error and error_description (the
// API code and message of the refusal). A callback whose state is unknown
// has nowhere to go: it answers the error itself.
func (h *handler) loginCallback(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Login == nil {
		api.WriteError(w, registrar.ErrLoginOff)
		return
	}
	q := r.URL.Query()
	ret, session, ttl, err := h.cfg.Login.Finish(r.Context(), q.Get("state"), q.Get("code"), q.Get("error"), api.ClientAddr(r, h.cfg.ClientIPHeader))
	if ret.URL == "" {
		if err == nil {
			err = fmt.Errorf("%w: no return URL", registrar.ErrLoginFailed)
		}
		api.WriteError(w, err)
		return
	}
	v := url.Values{}
	if err != nil {
		_, code := api.ErrorCode(err)
		v.Set("error", code)
		v.Set("error_description", err.Error())
	} else {
		v.Set("session", session)
		v.Set("expires_in", strconv.Itoa(int(ttl.Seconds())))
	}
	// The return URL was checked at the start: absolute, no fragment.
	target := ret.URL + "#" + v.Encode()
	if ret.Loopback {
		u, perr := url.Parse(ret.URL)
		if perr != nil {
			api.WriteError(w, perr)
			return
		}
		q := u.Query()
		for k, vs := range v {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		target = u.String()
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusSeeOther)
}
