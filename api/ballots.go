package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// clocks are what ballot statuses are judged by (BallotStatus): the
// node's clock, and the time of the last final block (the genesis time
// before block 1).
func (s *Server) clocks() (now, lastBlock int64) {
	_, _, t := s.tip()
	return s.cfg.Clock().UnixMilli(), t.UnixMilli()
}

func (s *Server) ballotView(b *ballot.Ballot, height uint64, now, lastBlock int64) BallotView {
	d := b.Def
	return BallotView{
		BallotID:   b.ID,
		Status:     BallotStatus(d, now, lastBlock),
		Height:     height,
		Question:   d.Question,
		Choices:    d.Choices,
		OpensAt:    time.UnixMilli(d.Opens).UTC(),
		ClosesAt:   time.UnixMilli(d.Closes).UTC(),
		Tally:      d.Tally.String(),
		Revote:     d.Revote,
		Definition: d,
	}
}

func (s *Server) ballots(w http.ResponseWriter, r *http.Request) {
	ids, err := s.cfg.State.BallotIDs()
	if err != nil {
		WriteError(w, err)
		return
	}
	now, lastBlock := s.clocks()
	out := BallotsView{Ballots: []BallotView{}}
	for _, id := range ids {
		b, h, found, err := s.cfg.State.BallotAt(id)
		if err != nil {
			WriteError(w, err)
			return
		}
		if found {
			out.Ballots = append(out.Ballots, s.ballotView(b, h, now, lastBlock))
		}
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) findBallot(r *http.Request) (*ballot.Ballot, uint64, error) {
	id, err := pathHash(r, "id")
	if err != nil {
		return nil, 0, err
	}
	b, h, found, err := s.cfg.State.BallotAt(id)
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, fmt.Errorf("%w: ballot %s", ErrNotFound, id)
	}
	return b, h, nil
}

func (s *Server) ballot(w http.ResponseWriter, r *http.Request) {
	b, h, err := s.findBallot(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	now, lastBlock := s.clocks()
	WriteJSON(w, http.StatusOK, s.ballotView(b, h, now, lastBlock))
}

func (s *Server) results(w http.ResponseWriter, r *http.Request) {
	b, _, err := s.findBallot(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	// Read the height first: results can only be newer than it, never older.
	height := s.cfg.Chain.Height()
	res, found, err := s.cfg.State.Results(b.ID)
	if err != nil || !found {
		WriteError(w, fmt.Errorf("results of %s: %v", b.ID, err))
		return
	}
	now, lastBlock := s.clocks()
	v := ResultsView{BallotID: b.ID, Height: height, Status: BallotStatus(b.Def, now, lastBlock)}
	for i, label := range b.Def.Choices {
		v.Choices = append(v.Choices, ChoiceCount{Label: label, Count: res.Counts[i]})
	}
	v.Casts = CastCounts{Final: res.Casts, Counted: res.Voters(), Replaced: res.Casts - res.Voters(),
		Pending: s.cfg.Backend.PendingCasts(b.ID)}
	if n, ok := s.cfg.Backend.TokensIssued(r.Context(), b); ok {
		v.TokensIssued = &n
	}
	if all, ok := s.cfg.State.(interface {
		AllResults() ([]ballot.Results, error)
	}); ok {
		if rs, err := all.AllResults(); err == nil {
			v.AppHash = ballot.AppHash(rs)
		}
	}
	WriteJSON(w, http.StatusOK, v)
}

func (s *Server) createBallot(w http.ResponseWriter, r *http.Request) {
	var d ballot.Definition
	if err := ReadJSON(w, r, s.cfg.MaxBodyBytes, &d); err != nil {
		WriteError(w, err)
		return
	}
	tx := (&ballot.Tx{Definition: &d}).Encode()
	checked, err := s.cfg.Backend.Submit(r.Context(), tx)
	if err != nil {
		WriteError(w, err)
		return
	}
	id := consensus.Hash(checked.ID)
	WriteJSON(w, http.StatusAccepted, SubmitView{BallotID: &id})
}
