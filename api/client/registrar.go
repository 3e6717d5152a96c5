package client

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/consensus"
)

// Registrar is a client of a registrar's API.
type Registrar struct {
	base  string
	token string
	http  *http.Client
}

// NewRegistrar returns a client of the registrar at baseURL. adminToken,
// if not empty, is sent to the endpoints that need it (new keys).
func NewRegistrar(baseURL, adminToken string) *Registrar {
	return &Registrar{base: strings.TrimRight(baseURL, "/"), token: adminToken, http: defaultHTTP}
}

// URL returns the registrar's base URL.
func (r *Registrar) URL() string { return r.base }

// NewKey asks the registrar for a fresh RSA key for one ballot.
func (r *Registrar) NewKey(ctx context.Context, bits int) (*registrarapi.KeyView, error) {
	var v registrarapi.KeyView
	return &v, do(ctx, r.http, http.MethodPost, r.base+"/v1/keys",
		registrarapi.KeyRequest{Bits: bits, AdminToken: r.token}, &v)
}

// Token asks for the blind signature of a blinded token message. An
// overloaded registrar checked nothing, so the request is sent again for
// up to tokenRetryBudget (the same blinded message is never a second token).
func (r *Registrar) Token(ctx context.Context, req registrarapi.TokenRequest) ([]byte, error) {
	var v registrarapi.TokenView
	err := retryOverloaded(ctx, tokenRetryBudget, func() error {
		return do(ctx, r.http, http.MethodPost, r.base+"/v1/tokens", req, &v)
	})
	if err != nil {
		return nil, err
	}
	return v.BlindSignature, nil
}

// StartLogin asks the registrar to start an OpenID Connect login for a
// ballot, the browser to come back to returnURL; it returns the
// provider's authorization URL to send the browser to.
func (r *Registrar) StartLogin(ctx context.Context, ballot consensus.Hash, returnURL string) (string, error) {
	var v registrarapi.LoginStartView
	err := do(ctx, r.http, http.MethodPost, r.base+"/v1/login/start",
		registrarapi.LoginStartRequest{BallotID: ballot, ReturnURL: returnURL}, &v)
	return v.AuthorizationURL, err
}

// tokenRetryBudget is how long Token keeps asking an overloaded registrar.
const tokenRetryBudget = 30 * time.Second

// Issued returns how many tokens the registrar issued for a ballot.
func (r *Registrar) Issued(ctx context.Context, ballot consensus.Hash) (uint64, error) {
	var v registrarapi.IssuanceView
	err := do(ctx, r.http, http.MethodGet, r.base+"/v1/ballots/"+ballot.String()+"/issuance", nil, &v)
	return v.TokensIssued, err
}
