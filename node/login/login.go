package login

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/throttle"
)

// Config configures the login. Zero fields take the documented defaults.
type Config struct {
	// Issuer is the provider's issuer URL (its discovery document is at
	// Issuer/.well-known/openid-configuration).
	Issuer string
	// ProviderName is the provider's name as voters know it ("France
	// Connect"), shown on the voting page's login button; default the
	// issuer's host.
	ProviderName string
	// ClientID and ClientSecret are the registrar's client at the
	// provider (client_secret_basic). The secret comes from a file or
	// the environment, never the command line (node reads it).
	ClientID, ClientSecret string
	// RedirectURL is the registrar's callback as the provider knows it:
	// the registrar's public URL + "/v1/login/callback".
	RedirectURL string
	// Scopes asked; default just "openid". France Connect: "openid" and
	// the claims the eligibility rules read ("birthdate", "birthplace").
	Scopes []string
	// ACRValues, if set, are asked (acr_values) and the ID token's acr
	// must be one of them (France Connect: "eidas1").
	ACRValues []string
	// SubjectClaim names the claim of the ID token that identifies a
	// voter; default "sub".
	SubjectClaim string
	// AllowedOrigins are the origins of the pages that may start a login
	// and receive its session ("https://vote.example.org"); loopback
	// return URLs (the command line's) are always allowed.
	AllowedOrigins []string
	// Eligibility are the optional rules on the claims.
	Eligibility registrar.Eligibility
	// SubjectKey keys the subject's hash (at least 32 bytes).
	SubjectKey registrar.SubjectKey
	// LoginTTL is how long a started login may come back; default 10 min.
	LoginTTL time.Duration
	// MaxLogins bounds the used states remembered (state.go) and the
	// addresses whose starts are counted; default 65,536.
	MaxLogins int
	// HTTPClient talks to the provider; default one with a 10 s timeout.
	HTTPClient *http.Client
	Clock      func() time.Time
	Rand       io.Reader
	Logger     *slog.Logger
}

// Validate checks the configuration (after defaults).
func (c Config) Validate() error {
	switch {
	case c.Issuer == "" || c.ClientID == "" || c.RedirectURL == "":
		return errors.New("login: issuer, client id and redirect URL are required")
	case c.ClientSecret == "":
		return errors.New("login: the client secret is empty")
	case len(c.SubjectKey) < registrar.MinSubjectKeyBytes:
		return fmt.Errorf("login: the subject key has %d bytes, want at least %d", len(c.SubjectKey), registrar.MinSubjectKeyBytes)
	case c.LoginTTL <= 0 || c.LoginTTL > time.Hour:
		return fmt.Errorf("login: login lifetime %v out of (0, 1h]", c.LoginTTL)
	}
	for _, o := range c.AllowedOrigins {
		if err := registrar.CheckOrigin(o); err != nil {
			return fmt.Errorf("login: %w", err)
		}
	}
	return c.Eligibility.Validate()
}

// Issuer is what the login needs of the registrar's service (node/issuer).
type Issuer interface {
	// CheckBallot refuses a ballot that is unknown, not open or not
	// this registrar's, for a request from addr (a registrar.AddressKey:
	// an unknown one costs it an attempt).
	CheckBallot(ctx context.Context, id consensus.Hash, addr string) error
	// NewSession mints a single-use session for subject and ballot.
	NewSession(ballot, subject consensus.Hash) (id string, ttl time.Duration, err error)
	// LoginWait refuses a login step while addr (or subject) is throttled.
	LoginWait(subject *consensus.Hash, addr string) error
	// LoginFailed counts and logs a failed login.
	LoginFailed(subject *consensus.Hash, addr string, reason error)
	// LoginSucceeded counts a login that minted a session.
	LoginSucceeded()
}

// Login is the registrar's OpenID Connect relying party.
type Login struct {
	cfg    Config
	issuer Issuer

	// stateKey is the key the states' cipher key, PKCE verifiers and
	// nonces derive from (state.go): a login under way is held by its
	// state, not by the registrar.
	stateKey []byte
	aead     cipher.AEAD // seals the states

	mu sync.Mutex // guards spent, starts and the random source
	// spent holds the states already used, until they expire.
	spent *registrar.OneTime[struct{}]
	// starts: each start takes one from its address's bucket
	// (StartBurst at once, then one every StartEvery): a start asks the
	// ballot of the node (if not cached) and costs a random state.
	starts *throttle.Buckets

	partyMu sync.Mutex
	party   rp.RelyingParty // nil until the provider's discovery answered
}

// StartBurst logins may start from one client address at once (an IPv6
// address by its /64), then one every StartEvery: an office behind one
// address starts 60 a minute.
const (
	StartBurst = 60
	StartEvery = time.Second
)

// New returns the login; the provider is first asked (discovery) at the
// first login, so a registrar starts while its provider is away.
func New(cfg Config, issuer Issuer) (*Login, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID}
	}
	if cfg.SubjectClaim == "" {
		cfg.SubjectClaim = "sub"
	}
	if cfg.LoginTTL == 0 {
		cfg.LoginTTL = 10 * time.Minute
	}
	if cfg.ProviderName == "" {
		if u, err := url.Parse(cfg.Issuer); err == nil {
			cfg.ProviderName = u.Host
		}
	}
	if cfg.MaxLogins <= 0 {
		cfg.MaxLogins = 1 << 16
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key := stateKey(cfg.SubjectKey, cfg.RedirectURL)
	return &Login{cfg: cfg, issuer: issuer, stateKey: key, aead: stateAEAD(key),
		spent: registrar.NewOneTime[struct{}](cfg.MaxLogins), starts: throttle.NewBuckets(StartBurst, StartEvery, cfg.MaxLogins)}, nil
}

// AllowedOrigins are the origins of the pages that may drive a login.
func (l *Login) AllowedOrigins() []string { return l.cfg.AllowedOrigins }

// ProviderName is the provider's name as voters know it.
func (l *Login) ProviderName() string { return l.cfg.ProviderName }

type nonceKey struct{}

// relyingParty returns the provider's client, asking for its discovery
// document the first time (and again after a failure).
func (l *Login) relyingParty(ctx context.Context) (rp.RelyingParty, error) {
	l.partyMu.Lock()
	defer l.partyMu.Unlock()
	if l.party != nil {
		return l.party, nil
	}
	// One WithVerifierOpts: a second one replaces the first's options.
	verify := []rp.VerifierOption{rp.WithNonce(func(ctx context.Context) string {
		n, _ := ctx.Value(nonceKey{}).(string)
		return n
	})}
	if len(l.cfg.ACRValues) > 0 {
		verify = append(verify, rp.WithACRVerifier(oidc.DefaultACRVerifier(l.cfg.ACRValues)))
	}
	party, err := rp.NewRelyingPartyOIDC(ctx, l.cfg.Issuer, l.cfg.ClientID, l.cfg.ClientSecret, l.cfg.RedirectURL, l.cfg.Scopes,
		rp.WithHTTPClient(l.cfg.HTTPClient), rp.WithVerifierOpts(verify...))
	if err != nil {
		return nil, fmt.Errorf("%w: the identity provider: %v", api.ErrUnavailable, err)
	}
	l.party = party
	return party, nil
}

// Start begins a login for ballot from the client address from: it checks
// the return URL and the ballot, seals them in a fresh state valid for
// LoginTTL (state.go: the nonce and PKCE verifier derive from it) and
// returns the provider's authorization URL. It keeps nothing.
func (l *Login) Start(ctx context.Context, ballot consensus.Hash, returnURL string, from netip.Addr) (string, error) {
	addr := registrar.AddressKey(from)
	if err := l.issuer.LoginWait(nil, addr); err != nil {
		return "", err
	}
	l.mu.Lock()
	wait := l.starts.TryTake(addr, l.cfg.Clock())
	l.mu.Unlock()
	if wait > 0 {
		return "", &registrar.RetryError{Err: registrar.ErrThrottled, After: wait}
	}
	ret, err := registrar.CheckReturnURL(returnURL, l.cfg.AllowedOrigins)
	if err != nil {
		return "", err
	}
	if err := l.issuer.CheckBallot(ctx, ballot, addr); err != nil {
		return "", err
	}
	party, err := l.relyingParty(ctx)
	if err != nil {
		return "", err
	}
	s := sealedState{expires: l.cfg.Clock().Add(l.cfg.LoginTTL), ballot: ballot, ret: ret.URL}
	var gcmNonce [12]byte
	l.mu.Lock()
	_, err1 := io.ReadFull(l.cfg.Rand, s.r[:])
	_, err2 := io.ReadFull(l.cfg.Rand, gcmNonce[:])
	l.mu.Unlock()
	if err := errors.Join(err1, err2); err != nil {
		return "", err
	}
	opts := []rp.AuthURLOpt{
		rp.WithCodeChallenge(oidc.NewSHACodeChallenge(l.verifier(s))),
		rp.AuthURLOpt(rp.WithURLParam("nonce", l.nonce(s))),
	}
	if len(l.cfg.ACRValues) > 0 {
		opts = append(opts, rp.AuthURLOpt(rp.WithURLParam("acr_values", strings.Join(l.cfg.ACRValues, " "))))
	}
	return rp.AuthURL(l.seal(s, gcmNonce), party, opts...), nil
}

// Finish ends a login from the provider's callback (its query's state,
// code and error, RFC 6749 §4.1.2): the state is opened (this registrar's,
// not expired) and spent (once), the code exchanged with
// the PKCE verifier, the ID token checked (signature, issuer, audience,
// expiry, nonce, acr), the subject hashed, the eligibility rules applied
// to the claims (from the userinfo endpoint, only if a rule needs one),
// and a session minted. It returns where to send the browser back (empty
// if the state is unknown) with the session, or the refusal. Every
// refusal counts against the address (and the subject, if proven).
func (l *Login) Finish(ctx context.Context, state, code, providerError string, from netip.Addr) (ret registrar.Return, session string, ttl time.Duration, err error) {
	addr := registrar.AddressKey(from)
	if err := l.issuer.LoginWait(nil, addr); err != nil {
		return registrar.Return{}, "", 0, err
	}
	now := l.cfg.Clock()
	p, ok := l.open(state, now)
	if ok {
		l.mu.Lock()
		ok = l.spent.PutNew(string(p.r[:]), struct{}{}, p.expires, now)
		l.mu.Unlock()
	}
	if ok {
		// The allowed origins may have changed since the start.
		ret, err = registrar.CheckReturnURL(p.ret, l.cfg.AllowedOrigins)
		ok = err == nil
	}
	if !ok {
		err := fmt.Errorf("%w: unknown, used or expired state", registrar.ErrLoginFailed)
		l.issuer.LoginFailed(nil, addr, err)
		return registrar.Return{}, "", 0, err
	}
	subject, err := l.prove(ctx, p, code, providerError)
	if err == nil {
		if err = l.issuer.LoginWait(&subject, addr); err != nil {
			return ret, "", 0, err
		}
		session, ttl, err = l.issuer.NewSession(p.ballot, subject)
		if err != nil {
			return ret, "", 0, err
		}
		l.issuer.LoginSucceeded()
		return ret, session, ttl, nil
	}
	if errors.Is(err, registrar.ErrNotEligible) {
		l.issuer.LoginFailed(&subject, addr, err)
	} else if errors.Is(err, registrar.ErrLoginFailed) {
		l.issuer.LoginFailed(nil, addr, err)
	}
	return ret, "", 0, err
}

// prove exchanges the code and checks what the provider says: it returns
// the subject's keyed hash, with ErrNotEligible if a rule refuses it.
func (l *Login) prove(ctx context.Context, p sealedState, code, providerError string) (consensus.Hash, error) {
	if providerError != "" {
		return consensus.Hash{}, fmt.Errorf("%w: the provider answered %s", registrar.ErrLoginFailed, errorCode(providerError))
	}
	if code == "" {
		return consensus.Hash{}, fmt.Errorf("%w: no authorization code", registrar.ErrLoginFailed)
	}
	party, err := l.relyingParty(ctx)
	if err != nil {
		return consensus.Hash{}, err
	}
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](context.WithValue(ctx, nonceKey{}, l.nonce(p)), code, party, rp.WithCodeVerifier(l.verifier(p)))
	if err != nil {
		return consensus.Hash{}, fmt.Errorf("%w: %v", registrar.ErrLoginFailed, exchangeError(err))
	}
	sub := tokens.IDTokenClaims.GetSubject()
	if l.cfg.SubjectClaim != "sub" {
		sub, _ = tokens.IDTokenClaims.Claims[l.cfg.SubjectClaim].(string)
	}
	if sub == "" {
		return consensus.Hash{}, fmt.Errorf("%w: the ID token has no %s claim", registrar.ErrLoginFailed, l.cfg.SubjectClaim)
	}
	subject := l.cfg.SubjectKey.Hash(l.cfg.Issuer, sub)
	if !l.cfg.Eligibility.NeedsClaims() {
		return subject, nil
	}
	claims, err := l.userinfo(ctx, party, tokens.AccessToken, tokens.TokenType, tokens.IDTokenClaims.GetSubject())
	if err != nil {
		return consensus.Hash{}, fmt.Errorf("%w: userinfo: %v", registrar.ErrLoginFailed, err)
	}
	if err := l.cfg.Eligibility.Check(claims, l.cfg.Clock()); err != nil {
		return subject, err
	}
	return subject, nil
}

// errorCode keeps an error code of the provider fit for a log line and an
// answer: at most 64 of [a-z_] (RFC 6749 §4.1.2.1's codes), else "error".
func errorCode(s string) string {
	if len(s) == 0 || len(s) > 64 || strings.IndexFunc(s, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' }) >= 0 {
		return "error"
	}
	return s
}

// exchangeError keeps of an error from the code exchange or the ID
// token's checks what names the check: the provider's
// error code (RFC 6749 §5.2) rather than its free text, which it may
// fill with anything.
func exchangeError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return "the provider refused the code: " + errorCode(re.ErrorCode)
	}
	return err.Error()
}

// The login is what the registrar's HTTP face needs.
var _ registrarapi.Login = (*Login)(nil)
