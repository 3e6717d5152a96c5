// Package logintest runs a real OpenID Connect provider for tests:
// zitadel/oidc's op package over its example storage, with a login page
// that approves at once the user the test names, and switches that make
// it misbehave as a broken or hostile provider would (an expired ID
// token, another audience, another nonce). It is not a mock of the
// provider: discovery, keys, the authorization code flow with PKCE, the
// token and userinfo endpoints are the op package's.
package logintest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// ClientID and ClientSecret are the registrar's client at the provider.
const (
	ClientID     = "cocorico-registrar"
	ClientSecret = "test-client-secret"
)

// User is a person the provider knows: a subject and the claims the
// registrar's eligibility rules read.
type User struct {
	Subject    string
	Birthdate  string
	Birthplace string
	PostalCode string
}

// Fault makes the provider misbehave on the next ID tokens.
type Fault int

const (
	// Honest issues correct ID tokens.
	Honest Fault = iota
	// Expired issues ID tokens that expired an hour ago.
	Expired
	// OtherAudience issues ID tokens for another client only (the op
	// package always adds the requesting client to the audience, so the
	// token endpoint's answer is signed again with another audience).
	OtherAudience
	// OtherNonce issues ID tokens with a nonce of its own.
	OtherNonce
)

// Provider is a running provider.
type Provider struct {
	URL   string // its issuer
	srv   *httptest.Server
	store *faultyStorage
}

// Start runs a provider knowing users, with the registrar's client
// redirecting to redirectURI; it stops when the test ends.
func Start(t interface {
	TempDir() string
	Cleanup(func())
	Fatal(...any)
}, redirectURI string, users []User) *Provider {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	stored := map[string]*storage.User{}
	byID := map[string]User{}
	for _, u := range users {
		stored[u.Subject] = &storage.User{ID: u.Subject, Username: u.Subject, Password: "pw", FirstName: "A", LastName: "B",
			Email: u.Subject + "@example.org", EmailVerified: true, PreferredLanguage: language.French}
		byID[u.Subject] = u
	}
	path := filepath.Join(t.TempDir(), "users.json")
	data, _ := json.Marshal(stored)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	us, err := storage.StoreFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	client := storage.WebClient(ClientID, ClientSecret, redirectURI)
	st := &faultyStorage{Storage: storage.NewStorageWithClients(us, map[string]*storage.Client{ClientID: client}), users: byID}
	provider, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte("logintest")), CodeMethodS256: true,
		SupportedUILocales: []language.Tag{language.French}}, st, op.StaticIssuer(srv.URL),
		op.WithAllowInsecure(), op.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	// The login page the example client names: it approves the user
	// the test chose, as a person typing their password would.
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux.HandleFunc("/login/username", interceptor.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("authRequestID")
		if err := st.CheckUsernamePassword(st.nextUser(), "pw", id); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(provider)(r.Context(), id), http.StatusFound)
	}))
	mux.Handle("/oauth/token", st.tokenEndpoint(provider))
	mux.Handle("/userinfo", st.userinfoEndpoint(provider, srv.URL))
	mux.Handle("/", provider)
	return &Provider{URL: srv.URL, srv: srv, store: st}
}

// LogInAs makes the next logins approve subject.
func (p *Provider) LogInAs(subject string) { p.store.set(func() { p.store.user = subject }) }

// SetACR makes the next ID tokens carry acr (the assurance level the
// login reached; "" by default, as the example storage gives).
func (p *Provider) SetACR(acr string) { p.store.set(func() { p.store.acr = acr }) }

// Userinfo is how the provider answers at its userinfo endpoint.
type Userinfo int

const (
	// UserinfoJSON answers JSON (the op package's answer).
	UserinfoJSON Userinfo = iota
	// UserinfoSigned answers a JWT signed with the provider's key, with
	// iss and aud (OpenID Connect Core §5.3.2), as France Connect does.
	UserinfoSigned
	// UserinfoForged answers a JWT signed with a key not the provider's.
	UserinfoForged
)

// SetUserinfo sets how the next userinfo answers are made.
func (p *Provider) SetUserinfo(u Userinfo) { p.store.set(func() { p.store.userinfo = u }) }

// SetFault makes the next ID tokens misbehave (Honest: stop).
func (p *Provider) SetFault(f Fault) { p.store.set(func() { p.store.fault = f }) }

// faultyStorage is the example storage with the registrar's claims added
// and the faults applied.
type faultyStorage struct {
	*storage.Storage
	users    map[string]User
	mu       sync.Mutex
	user     string
	fault    Fault
	acr      string
	userinfo Userinfo
}

func (s *faultyStorage) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *faultyStorage) nextUser() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

func (s *faultyStorage) currentFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// SetUserinfoFromToken adds the claims the eligibility rules read
// (France Connect's names) to the userinfo answer.
func (s *faultyStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin); err != nil {
		return err
	}
	u, ok := s.users[info.Subject]
	if !ok {
		return fmt.Errorf("no user %q", info.Subject)
	}
	info.Birthdate = u.Birthdate
	if u.PostalCode != "" {
		info.Address = &oidc.UserInfoAddress{PostalCode: u.PostalCode}
	}
	if u.Birthplace != "" {
		info.AppendClaims("birthplace", u.Birthplace)
	}
	return nil
}

func (s *faultyStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.Storage.AuthRequestByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return faultyRequest{AuthRequest: r, fault: s.fault, acr: s.acr}, nil
}

func (s *faultyStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return faultyClient{Client: c, fault: s.currentFault()}, nil
}

type faultyRequest struct {
	op.AuthRequest
	fault Fault
	acr   string
}

func (r faultyRequest) GetACR() string { return r.acr }

func (r faultyRequest) GetNonce() string {
	if r.fault == OtherNonce {
		return "a-nonce-of-the-providers-own"
	}
	return r.AuthRequest.GetNonce()
}

type faultyClient struct {
	op.Client
	fault Fault
}

func (c faultyClient) IDTokenLifetime() time.Duration {
	if c.fault == Expired {
		return -time.Hour
	}
	return c.Client.IDTokenLifetime()
}

// tokenEndpoint serves the op's token endpoint, and, under OtherAudience,
// gives its ID token another audience, signed again with the provider's
// key: a token a provider made for someone else.
func (s *faultyStorage) tokenEndpoint(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.currentFault() != OtherAudience {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err == nil {
			if raw, ok := body["id_token"].(string); ok {
				if body["id_token"], err = s.otherAudience(r.Context(), raw); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
			}
		}
		data, _ := json.Marshal(body)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(data)
	})
}

func (s *faultyStorage) otherAudience(ctx context.Context, idToken string) (string, error) {
	claims := new(oidc.IDTokenClaims)
	if _, err := oidc.ParseToken(idToken, claims); err != nil {
		return "", err
	}
	claims.Audience = []string{"someone-else"}
	claims.AuthorizedParty = "someone-else"
	key, err := s.SigningKey(ctx)
	if err != nil {
		return "", err
	}
	signer, err := op.SignerFromKey(key)
	if err != nil {
		return "", err
	}
	return crypto.Sign(claims, signer)
}

// userinfoEndpoint serves the op's userinfo endpoint, its JSON answer
// signed as a JWT under UserinfoSigned (or UserinfoForged).
func (s *faultyStorage) userinfoEndpoint(next http.Handler, issuer string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		mode := s.userinfo
		s.mu.Unlock()
		if mode == UserinfoJSON {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var claims map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &claims) != nil {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		claims["iss"], claims["aud"] = issuer, ClientID
		key, err := s.SigningKey(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if mode == UserinfoForged {
			other, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			key = forgedKey{key, other}
		}
		signer, err := op.SignerFromKey(key)
		if err == nil {
			var token string
			if token, err = crypto.Sign(claims, signer); err == nil {
				w.Header().Set("Content-Type", "application/jwt")
				w.Write([]byte(token))
				return
			}
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
	})
}

// forgedKey is a signing key of the same id and algorithm as the
// provider's, but another key.
type forgedKey struct {
	op.SigningKey
	other *rsa.PrivateKey
}

func (k forgedKey) Key() any { return k.other }
