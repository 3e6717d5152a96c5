// Package registrarapi is the registrar's HTTP service: per-ballot RSA keys
// for organizers, one blind signature per voter per ballot for voters, and
// the published count of tokens issued. The rules are ballot/registrar's;
// the records are store.Registry's.
package registrarapi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

// Ballots finds ballot definitions (on a node of the chain).
type Ballots interface {
	Ballot(ctx context.Context, id consensus.Hash) (*ballot.Ballot, error)
}

// Config configures the service.
type Config struct {
	Registry *store.Registry
	Ballots  Ballots
	// AdminToken, if set, is required to create keys.
	AdminToken string
	Clock      func() time.Time
	Logger     *slog.Logger
}

// Service is the registrar.
type Service struct {
	cfg    Config
	mu     sync.RWMutex
	keys   map[consensus.Hash]*rsa.PrivateKey
	keygen sync.Mutex // one key generation at a time: it is costly
	cache  sync.Map   // consensus.Hash → *ballot.Ballot
}

// New loads the registrar's keys and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, keys: map[consensus.Hash]*rsa.PrivateKey{}}
	stored, err := cfg.Registry.Keys()
	if err != nil {
		return nil, err
	}
	for id, der := range stored {
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("registrar key %s: %w", id.Short(), err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("registrar key %s: %T, want RSA", id.Short(), k)
		}
		s.keys[id] = rk
	}
	return s, nil
}

// KeyRequest asks for a new per-ballot key.
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
	VoterID  string         `json:"voter_id"`
	Code     string         `json:"code"`
	Blinded  []byte         `json:"blinded"`
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

// NewKey generates, stores and returns a fresh key for one ballot.
func (s *Service) NewKey(bits int) (*KeyView, error) {
	if bits == 0 {
		bits = ballot.KeyBits2048
	}
	if bits != ballot.KeyBits2048 && bits != ballot.KeyBits3072 {
		return nil, fmt.Errorf("%w: bits %d, want 2048 or 3072", api.ErrBadRequest, bits)
	}
	s.keygen.Lock()
	defer s.keygen.Unlock()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	der := ballot.MarshalRegistrarKey(&k.PublicKey)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	id := registrar.KeyID(der)
	if err := s.cfg.Registry.PutKey(id, pkcs8); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.keys[id] = k
	s.mu.Unlock()
	s.cfg.Logger.Info("registrar key created", "key_id", id.Short(), "bits", bits)
	return &KeyView{KeyID: id, PublicKey: der, Bits: bits}, nil
}

func (s *Service) ballot(ctx context.Context, id consensus.Hash) (*ballot.Ballot, error) {
	if b, ok := s.cache.Load(id); ok {
		return b.(*ballot.Ballot), nil
	}
	b, err := s.cfg.Ballots.Ballot(ctx, id)
	if err != nil {
		return nil, err
	}
	s.cache.Store(id, b)
	return b, nil
}

// IssueToken applies the rules of issuance and, for a first request,
// records the issuance durably before signing. The very same request
// (same blinded message) is answered again without a second token.
func (s *Service) IssueToken(ctx context.Context, req TokenRequest) ([]byte, error) {
	if err := registrar.CheckVoterID(req.VoterID); err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	b, err := s.ballot(ctx, req.BallotID)
	if err != nil {
		return nil, err
	}
	// The code check is the costly part (a slow hash): outside any lock.
	var code *registrar.CodeHash
	if raw, found, err := s.cfg.Registry.VoterCode(req.VoterID); err != nil {
		return nil, err
	} else if found {
		h, err := registrar.DecodeCodeHash(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: code hash of %q: %v", store.ErrCorrupt, req.VoterID, err)
		}
		code = &h
	}
	s.mu.RLock()
	keys := s.keys
	s.mu.RUnlock()
	r := registrar.Request{Ballot: b.ID, VoterID: req.VoterID, Code: req.Code, Blinded: req.Blinded}
	var key *rsa.PrivateKey
	err = s.cfg.Registry.Issue(b.ID, req.VoterID, func(prior []byte) ([]byte, error) {
		var p *registrar.Issuance
		if prior != nil {
			i, err := registrar.DecodeIssuance(prior)
			if err != nil {
				return nil, fmt.Errorf("%w: issuance of %q: %v", store.ErrCorrupt, req.VoterID, err)
			}
			p = &i
		}
		d, err := registrar.Decide(r, code, p, b, keys, s.cfg.Clock().UnixMilli())
		if err != nil {
			return nil, err
		}
		key = d.Key
		if !d.New {
			return nil, nil
		}
		return d.Issuance.Encode(), nil
	})
	if err != nil {
		return nil, err
	}
	sig, err := ballot.BlindSign(key, req.Blinded)
	if err != nil {
		return nil, fmt.Errorf("%w: blinded message: %v", ballot.ErrMalformed, err)
	}
	return sig, nil
}

// Handler returns the service's HTTP handler.
func (s *Service) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		var req KeyRequest
		if err := api.ReadJSON(w, r, 4<<10, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		if s.cfg.AdminToken != "" && subtle.ConstantTimeCompare([]byte(req.AdminToken), []byte(s.cfg.AdminToken)) != 1 {
			api.WriteJSON(w, http.StatusUnauthorized, api.ErrorBody{Error: api.ErrorDetail{Code: "unauthorized", Message: "admin token required"}})
			return
		}
		v, err := s.NewKey(req.Bits)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		api.WriteJSON(w, http.StatusCreated, v)
	})
	m.HandleFunc("POST /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req TokenRequest
		if err := api.ReadJSON(w, r, 8<<10, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		sig, err := s.IssueToken(r.Context(), req)
		if err != nil {
			if status, _ := api.ErrorCode(err); status >= 500 {
				s.cfg.Logger.Error("token request failed", "err", err)
			}
			api.WriteError(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, TokenView{BlindSignature: sig})
	})
	m.HandleFunc("GET /v1/ballots/{id}/issuance", func(w http.ResponseWriter, r *http.Request) {
		id, err := consensus.ParseHash(r.PathValue("id"))
		if err != nil {
			api.WriteError(w, fmt.Errorf("%w: %v", api.ErrBadRequest, err))
			return
		}
		api.WriteJSON(w, http.StatusOK, IssuanceView{BallotID: id, TokensIssued: s.cfg.Registry.Issued(id)})
	})
	m.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		n, err := s.cfg.Registry.Voters()
		if err != nil {
			api.WriteError(w, err)
			return
		}
		s.mu.RLock()
		keys := len(s.keys)
		s.mu.RUnlock()
		api.WriteJSON(w, http.StatusOK, map[string]int{"voters": n, "keys": keys})
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, fmt.Errorf("%w: no endpoint %s %s", api.ErrNotFound, r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		m.ServeHTTP(w, r)
	})
}

// ImportRoll hashes and stores the roll entries not stored yet, using
// every core, and returns how many were added.
func ImportRoll(reg *store.Registry, entries []registrar.RollEntry, p registrar.HashParams) (int, error) {
	todo := make([]registrar.RollEntry, 0, len(entries))
	for _, e := range entries {
		if has, err := reg.HasVoter(e.VoterID); err != nil {
			return 0, err
		} else if !has {
			todo = append(todo, e)
		}
	}
	hashed := make(map[string][]byte, len(todo))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, e := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			h, err := registrar.HashCode(rand.Reader, e.Code, p)
			if err != nil {
				select {
				case errs <- err:
				default:
				}
				return
			}
			mu.Lock()
			hashed[e.VoterID] = h.Encode()
			mu.Unlock()
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return reg.PutVoters(hashed)
}
