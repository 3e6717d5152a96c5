package issuer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/store"
)

// overloadedRetry is the Retry-After of a request refused for want of a
// check slot.
const overloadedRetry = time.Second

// authorize checks voter's code, throttled: a voter id locked out or out
// of right codes, or an address out of wrong codes, is refused before any
// slow hash; at most
// MaxChecks hashes run at once. A wrong code (or an unknown voter id) is
// counted against both, logged and refused with ErrNotAuthorized.
func (s *Service) authorize(ctx context.Context, voter, code, addr string) error {
	if err := s.throttled(voter, addr); err != nil {
		return err
	}
	// The stored hash is read before the slot is taken: no I/O in a slot.
	var stored *registrar.CodeHash
	if raw, found, err := s.cfg.Registry.VoterCode(voter); err != nil {
		return err
	} else if found {
		h, err := registrar.DecodeCodeHash(raw)
		if err != nil {
			return fmt.Errorf("%w: code hash of a voter: %v", store.ErrCorrupt, err)
		}
		stored = &h
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	// Wrong codes may have piled up while this request waited.
	if err := s.throttled(voter, addr); err != nil {
		s.release()
		return err
	}
	err := registrar.Authorize(stored, s.decoy, code)
	s.release()
	s.tmu.Lock()
	var lock registrar.Lockout
	if err == nil {
		s.throttle.Succeeded(voter, s.cfg.Clock())
	} else {
		lock = s.throttle.Failed(voter, addr, s.cfg.Clock())
	}
	s.gaugeThrottle()
	s.tmu.Unlock()
	if err == nil {
		return nil
	}
	s.logRefusal(s.cfg.Logger.With("voter", s.VoterTag(voter), "addr", addr), "wrong code", "voter id", lock)
	return err
}

// logRefusal logs a refusal (what: "wrong code") that the throttle
// counted, and counts the lockout it started, if any: of the voter (who:
// "voter id") or of the address.
func (s *Service) logRefusal(log *slog.Logger, what, who string, lock registrar.Lockout) {
	switch {
	case lock.Voter > 0:
		s.cfg.Metrics.Lockouts.WithLabelValues("voter").Inc()
		s.refusalLog.Do(func() { log.Warn(what+": "+who+" locked out", "for", lock.Voter) })
	case lock.Address > 0:
		s.cfg.Metrics.Lockouts.WithLabelValues("address").Inc()
		s.refusalLog.Do(func() { log.Warn(what+": address throttled", "for", lock.Address.Round(time.Second)) })
	default:
		s.refusalLog.Do(func() { log.Info(what) })
	}
}

// throttled returns a *registrar.RetryError if voter or addr must wait.
func (s *Service) throttled(voter, addr string) error {
	s.tmu.Lock()
	wait := s.throttle.Wait(voter, addr, s.cfg.Clock())
	s.tmu.Unlock()
	if wait > 0 {
		return &registrar.RetryError{Err: registrar.ErrThrottled, After: wait}
	}
	return nil
}

// acquire takes a check slot, waiting at most CheckWait.
func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.checks <- struct{}{}:
	default:
		t := time.NewTimer(s.cfg.CheckWait)
		defer t.Stop()
		select {
		case s.checks <- struct{}{}:
		case <-t.C:
			return &registrar.RetryError{Err: registrar.ErrOverloaded, After: overloadedRetry}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.cfg.Metrics.ChecksInFlight.Inc()
	if s.onCheck != nil {
		s.onCheck(len(s.checks)) // the slots taken: the checks in flight
	}
	return nil
}

func (s *Service) release() {
	s.cfg.Metrics.ChecksInFlight.Dec()
	<-s.checks
}

// gaugeThrottle updates the throttle's size gauges; s.tmu is held.
func (s *Service) gaugeThrottle() {
	v, l, a, r := s.throttle.Len()
	s.cfg.Metrics.ThrottleEntries.WithLabelValues("voter").Set(float64(v))
	s.cfg.Metrics.ThrottleEntries.WithLabelValues("lockout").Set(float64(l))
	s.cfg.Metrics.ThrottleEntries.WithLabelValues("address").Set(float64(a))
	s.cfg.Metrics.ThrottleEntries.WithLabelValues("right").Set(float64(r))
}
