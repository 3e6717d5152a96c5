package issuer

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
)

// session is what a login proved: a subject (by its keyed hash) may ask
// for one token of one ballot.
type session struct {
	ballot  consensus.Hash
	subject consensus.Hash
}

// NewSession mints a single-use session for subject (a keyed hash) and
// ballot, valid for SessionTTL: a login's result, handed to the voter's
// client, which redeems it in a token request instead of a voter id and
// code. 32 random bytes, base64url.
func (s *Service) NewSession(ballot, subject consensus.Hash) (id string, ttl time.Duration, err error) {
	var raw [32]byte
	s.tmu.Lock() // also for the random source: it need not be safe for concurrent use
	defer s.tmu.Unlock()
	if _, err := io.ReadFull(s.cfg.Rand, raw[:]); err != nil {
		return "", 0, err
	}
	id = base64.RawURLEncoding.EncodeToString(raw[:])
	s.sessions.Put(id, session{ballot: ballot, subject: subject}, s.cfg.Clock().Add(s.cfg.SessionTTL))
	return id, s.cfg.SessionTTL, nil
}

// redeem takes the session id for ballot and returns the voter key its
// issuance is recorded under. A session is used once, whatever follows:
// a voter whose answer is lost logs in again, and the very same blinded
// message is answered again (registrar.Decide).
func (s *Service) redeem(id string, ballot consensus.Hash) (string, error) {
	s.tmu.Lock()
	se, ok := s.sessions.Take(id, s.cfg.Clock())
	s.tmu.Unlock()
	if !ok || se.ballot != ballot {
		return "", registrar.ErrSessionInvalid
	}
	return registrar.SubjectVoter(se.subject), nil
}

// LoginWait refuses, with a *registrar.RetryError, a login step from addr
// (a registrar.AddressKey) while addr is out of attempts, or subject (if
// known: a keyed hash) is locked out. The wrong codes of the roll and the
// failed logins share one throttle.
func (s *Service) LoginWait(subject *consensus.Hash, addr string) error {
	voter := ""
	if subject != nil {
		voter = registrar.SubjectVoter(*subject)
	}
	return s.throttled(voter, addr)
}

// LoginFailed records a failed login from addr, and logs it without
// personal data: the reason (which check failed, never a claim), the
// address key and, if the login proved a subject (an eligibility
// refusal), the subject's log tag. A refusal of a subject counts against
// it as a wrong code counts against a voter id.
func (s *Service) LoginFailed(subject *consensus.Hash, addr string, reason error) {
	now := s.cfg.Clock()
	s.tmu.Lock()
	var lock registrar.Lockout
	log := s.cfg.Logger.With("addr", addr, "reason", reason.Error())
	if subject != nil {
		voter := registrar.SubjectVoter(*subject)
		lock = s.throttle.Failed(voter, addr, now)
		log = log.With("voter", s.VoterTag(voter))
	} else {
		lock.Address = s.throttle.FailedFrom(addr, now)
	}
	s.gaugeThrottle()
	s.tmu.Unlock()
	s.cfg.Metrics.Logins.WithLabelValues(loginResult(reason)).Inc()
	s.logRefusal(log, "login refused", "subject", lock)
}

// LoginSucceeded counts a login that minted a session.
func (s *Service) LoginSucceeded() { s.cfg.Metrics.Logins.WithLabelValues("session").Inc() }

func loginResult(err error) string {
	if errors.Is(err, registrar.ErrNotEligible) {
		return "not_eligible"
	}
	return "failed"
}

// checkSessionTTL is the bound on a session's life.
func checkSessionTTL(d time.Duration) error {
	if d <= 0 || d > time.Hour {
		return fmt.Errorf("issuer: session lifetime %v out of (0, 1h]", d)
	}
	return nil
}

// CheckBallot refuses a ballot that is unknown, not open now, or that
// names no key of this registrar: a login for it would end in a session
// no token could be issued for. An unknown one costs addr an attempt
// (Service.ballot).
func (s *Service) CheckBallot(ctx context.Context, id consensus.Hash, addr string) error {
	b, err := s.ballot(ctx, id, addr)
	if err != nil {
		return err
	}
	if err := ballot.CheckOpen(b.Def, s.cfg.Clock().UnixMilli()); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, err = registrar.KeyFor(b, s.keys)
	return err
}
