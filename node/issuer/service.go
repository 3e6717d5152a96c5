package issuer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
	"golang.org/x/time/rate"
)

// Ballots finds ballot definitions (on a node of the chain).
type Ballots interface {
	Ballot(ctx context.Context, id consensus.Hash) (*ballot.Ballot, error)
}

// Config configures the service. Zero fields take the documented defaults.
type Config struct {
	Registry *store.Registry
	Ballots  Ballots
	// HashParams are the cost of the decoy hash that unknown voter ids
	// are checked against when the roll is empty; otherwise the decoy
	// takes the stored hashes' cost. Default registrar.DefaultHashParams.
	HashParams registrar.HashParams
	// Throttle sets how wrong codes are throttled (registrar.DefaultThrottle).
	Throttle registrar.ThrottleConfig
	// MaxChecks bounds the slow code hashes running at once (each takes
	// HashParams.MemKiB of memory); default the number of cores.
	MaxChecks int
	// CheckWait is the longest a request waits for a check slot before
	// it is refused as overloaded; default 2 s.
	CheckWait time.Duration
	// SessionTTL is how long a session minted by a login may be
	// redeemed; default 5 minutes, at most an hour.
	SessionTTL time.Duration
	// MaxSessions bounds the sessions held (default 65,536): beyond, the
	// least recently minted is forgotten.
	MaxSessions int
	Clock       func() time.Time
	Rand        io.Reader
	Logger      *slog.Logger
	Metrics     *Metrics
}

// Service is the registrar's service.
type Service struct {
	cfg  Config
	mu   sync.RWMutex
	keys map[consensus.Hash]*rsa.PrivateKey
	// signers holds each key ready to sign (its moduli prepared once),
	// by key; guarded by mu.
	signers map[*rsa.PrivateKey]*ballot.BlindSigner
	keygen  sync.Mutex // one key generation at a time: it is costly
	cache   sync.Map   // consensus.Hash → *ballot.Ballot

	checks chan struct{} // a slot per slow hash allowed at once
	// onCheck, if set (tests), runs in each check slot with the number of
	// checks in flight, before the hash.
	onCheck func(inFlight int)
	// onJoin, if set (tests), runs when a request joins a ballot lookup
	// in flight.
	onJoin   func()
	tmu      sync.Mutex // guards throttle, asking and lookups
	throttle *registrar.Throttle
	// asking counts, per address, the lookups of a ballot not cached yet
	// that are waiting for the node: an unknown ballot is charged to the
	// address only once the node answers, so that many sent at once
	// would all be asked before the first is charged (guarded by tmu).
	asking map[string]int
	// lookups holds the lookups in flight by ballot id (guarded by tmu).
	lookups  map[consensus.Hash]*lookup
	sessions *registrar.OneTime[session] // guarded by tmu
	decoy    registrar.CodeHash
	logKey   [32]byte // keys the voter ids in log lines
	// refusalLog lets a refusal's log line through at most once a second:
	// wrong codes from rotating addresses are not throttled as a whole,
	// and their lines would grow the log without bound (the metrics count
	// every one).
	refusalLog rate.Sometimes
}

// New loads the registrar's keys and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.HashParams == (registrar.HashParams{}) {
		cfg.HashParams = registrar.DefaultHashParams
	}
	if cfg.MaxChecks <= 0 {
		cfg.MaxChecks = runtime.GOMAXPROCS(0)
	}
	if cfg.CheckWait <= 0 {
		cfg.CheckWait = 2 * time.Second
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 5 * time.Minute
	}
	if err := checkSessionTTL(cfg.SessionTTL); err != nil {
		return nil, err
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 1 << 16
	}
	cfg.Throttle = cfg.Throttle.WithDefaults()
	if err := cfg.Throttle.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, keys: map[consensus.Hash]*rsa.PrivateKey{}, signers: map[*rsa.PrivateKey]*ballot.BlindSigner{},
		checks: make(chan struct{}, cfg.MaxChecks), throttle: registrar.NewThrottle(cfg.Throttle),
		sessions: registrar.NewOneTime[session](cfg.MaxSessions), refusalLog: rate.Sometimes{Interval: time.Second}}
	if err := s.loadKeys(); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(cfg.Rand, s.logKey[:]); err != nil {
		return nil, err
	}
	params := cfg.HashParams
	if raw, found, err := cfg.Registry.AnyVoterCode(); err != nil {
		return nil, err
	} else if found {
		h, err := registrar.DecodeCodeHash(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: a code hash: %v", store.ErrCorrupt, err)
		}
		params = h.Params
	}
	var err error
	if s.decoy, err = registrar.NewDecoy(cfg.Rand, params); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) loadKeys() error {
	stored, err := s.cfg.Registry.Keys()
	if err != nil {
		return err
	}
	for id, der := range stored {
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("registrar key %s: %w", id.Short(), err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("registrar key %s: %T, want RSA", id.Short(), k)
		}
		if err := s.addKey(id, rk); err != nil {
			return fmt.Errorf("registrar key %s: %w", id.Short(), err)
		}
	}
	return nil
}

// addKey keeps key under id, ready to sign; s.mu is held (or s is not
// shared yet).
func (s *Service) addKey(id consensus.Hash, key *rsa.PrivateKey) error {
	signer, err := ballot.NewBlindSigner(key)
	if err != nil {
		return err
	}
	s.keys[id], s.signers[key] = key, signer
	return nil
}

// NewKey generates, stores and returns a fresh key for one ballot: its id
// and its DER public key, to put in a ballot definition.
func (s *Service) NewKey(bits int) (consensus.Hash, []byte, error) {
	if bits == 0 {
		bits = ballot.KeyBits2048
	}
	if bits != ballot.KeyBits2048 && bits != ballot.KeyBits3072 {
		return consensus.Hash{}, nil, fmt.Errorf("%w: bits %d, want 2048 or 3072", ballot.ErrMalformed, bits)
	}
	s.keygen.Lock()
	defer s.keygen.Unlock()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return consensus.Hash{}, nil, err
	}
	der := ballot.MarshalRegistrarKey(&k.PublicKey)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return consensus.Hash{}, nil, err
	}
	id := registrar.KeyID(der)
	if err := s.cfg.Registry.PutKey(id, pkcs8); err != nil {
		return consensus.Hash{}, nil, err
	}
	s.mu.Lock()
	err = s.addKey(id, k)
	s.mu.Unlock()
	if err != nil {
		return consensus.Hash{}, nil, err
	}
	s.cfg.Logger.Info("registrar key created", "key_id", id.Short(), "bits", bits)
	return id, der, nil
}

// Issued returns how many tokens were issued for a ballot.
func (s *Service) Issued(ballot consensus.Hash) uint64 { return s.cfg.Registry.Issued(ballot) }

// Status returns the number of voters on the roll and of ballot keys.
func (s *Service) Status() (voters, keys int, err error) {
	if voters, err = s.cfg.Registry.Voters(); err != nil {
		return 0, 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return voters, len(s.keys), nil
}

// ballot returns ballot id, from the cache or else from the node, for a
// request from addr (a registrar.AddressKey). Only ballots found are
// cached: an id the node does not know costs its address an attempt, as
// a wrong code does, and an address out of attempts is refused before
// the node is asked, so that random ids cannot make the registrar query
// its node without bound. Requests for an id already being looked up
// wait for that lookup's answer (from any address, without counting
// against MaxAsking): the first voters of a new ballot, sent at once from
// one address (a bench, a campus behind one NAT), ask the node once.
func (s *Service) ballot(ctx context.Context, id consensus.Hash, addr string) (*ballot.Ballot, error) {
	if b, ok := s.cache.Load(id); ok {
		return b.(*ballot.Ballot), nil
	}
	if err := s.throttled("", addr); err != nil {
		return nil, err
	}
	l, first := s.startLookup(id, addr)
	if l == nil {
		return nil, &registrar.RetryError{Err: registrar.ErrThrottled, After: time.Second}
	}
	if first {
		// The lookup outlives a first asker that goes away: others wait.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		l.b, l.err = s.cfg.Ballots.Ballot(lctx, id)
		cancel()
		if l.err == nil {
			s.cache.Store(id, l.b)
		}
		s.doneLookup(id, addr)
		close(l.done)
	} else {
		if s.onJoin != nil {
			s.onJoin()
		}
		select {
		case <-l.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if errors.Is(l.err, ballot.ErrUnknownBallot) {
		s.tmu.Lock()
		s.throttle.FailedFrom(addr, s.cfg.Clock())
		s.gaugeThrottle()
		s.tmu.Unlock()
	}
	return l.b, l.err
}

// lookup is one question to the node about a ballot not cached yet; its
// answer (b, err) is set before done is closed.
type lookup struct {
	done chan struct{}
	b    *ballot.Ballot
	err  error
}

// lookupTimeout bounds one question to the node.
const lookupTimeout = 30 * time.Second

// MaxAsking bounds the lookups of uncached ballots one address has
// waiting for the node at once; a further one is throttled (Retry-After
// 1 s). A ballot once found is cached, and a request for an id already
// being looked up joins that lookup: the bound touches only distinct
// ids not cached, such as ids that name no ballot.
const MaxAsking = 4

// startLookup returns the lookup of id in flight (first false), or a new
// one that addr must make (first true), or nil if addr already makes
// MaxAsking.
func (s *Service) startLookup(id consensus.Hash, addr string) (l *lookup, first bool) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if l := s.lookups[id]; l != nil {
		return l, false
	}
	if s.asking[addr] >= MaxAsking {
		return nil, false
	}
	if s.asking == nil {
		s.asking, s.lookups = map[string]int{}, map[consensus.Hash]*lookup{}
	}
	s.asking[addr]++
	l = &lookup{done: make(chan struct{})}
	s.lookups[id] = l
	return l, true
}

func (s *Service) doneLookup(id consensus.Hash, addr string) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	delete(s.lookups, id)
	if s.asking[addr]--; s.asking[addr] <= 0 {
		delete(s.asking, addr)
	}
}

// IssueToken answers a voter's token request from the client address
// from, in this order: the request's own checks (no slow hash); for a
// request with a session (a login's), the session, taken once, in place
// of what follows up to the lock; for a request with a code, the
// throttle (ErrThrottled, before any slow hash); a check slot (at most
// MaxChecks at once, ErrOverloaded after CheckWait); the code, against a
// decoy for an unknown voter id (one ErrNotAuthorized for both); then,
// under the lock of (ballot, voter): the one-token rule, the blind
// signature (checked, as circl does), and only then the record, synced.
// A request whose signature fails records nothing; the very same request
// (same blinded message) is answered again without a second token.
func (s *Service) IssueToken(ctx context.Context, req registrar.Request, from netip.Addr) (sig []byte, err error) {
	result := "refused"
	defer func() { s.cfg.Metrics.Requests.WithLabelValues(result).Inc() }()
	b, err := s.ballot(ctx, req.Ballot, registrar.AddressKey(from))
	if err != nil {
		if errors.Is(err, registrar.ErrThrottled) {
			result = "throttled"
		}
		return nil, err
	}
	s.mu.RLock()
	key, err := registrar.CheckRequest(req, b, s.keys, s.cfg.Clock().UnixMilli())
	signer := s.signers[key]
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	voter := req.VoterID
	if req.Session != "" {
		if voter, err = s.redeem(req.Session, b.ID); err != nil {
			result = "session_invalid"
			return nil, err
		}
	} else if err := s.authorize(ctx, req.VoterID, req.Code, registrar.AddressKey(from)); err != nil {
		switch {
		case errors.Is(err, registrar.ErrNotAuthorized):
			result = "not_authorized"
		case errors.Is(err, registrar.ErrThrottled):
			result = "throttled"
		case errors.Is(err, registrar.ErrOverloaded):
			result = "overloaded"
		}
		return nil, err
	}
	var isNew bool
	err = s.cfg.Registry.Issue(b.ID, voter, func(prior []byte) ([]byte, error) {
		var p *registrar.Issuance
		if prior != nil {
			i, err := registrar.DecodeIssuance(prior)
			if err != nil {
				return nil, fmt.Errorf("%w: issuance of a voter: %v", store.ErrCorrupt, err)
			}
			p = &i
		}
		rec, fresh, err := registrar.Decide(req.Blinded, p, s.cfg.Clock().UnixMilli())
		if err != nil {
			return nil, err
		}
		if sig, err = signer.Sign(req.Blinded); err != nil {
			return nil, fmt.Errorf("%w: blinded message: %v", ballot.ErrMalformed, err)
		}
		if isNew = fresh; !fresh {
			return nil, nil
		}
		return rec.Encode(), nil
	})
	switch {
	case errors.Is(err, registrar.ErrAlreadyIssued):
		result = "already_issued"
	case err != nil:
	case isNew:
		result = "issued"
	default:
		result = "reissued"
	}
	if err != nil {
		return nil, err
	}
	return sig, nil
}

// VoterTag is how log lines name a voter id: a keyed hash (the key is
// random per process), enough to follow one id through a log, not to
// read it.
func (s *Service) VoterTag(voter string) string {
	m := hmac.New(sha256.New, s.logKey[:])
	m.Write([]byte(voter))
	return hex.EncodeToString(m.Sum(nil)[:8])
}
