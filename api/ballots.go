package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
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

// sealedCounted reports whether a sealed ballot's keykeepers counted it.
func (s *Server) sealedCounted(id consensus.Hash) bool {
	k, found, err := s.cfg.State.Keyring(id)
	return err == nil && found && k.Secret != nil
}

func (s *Server) ballotView(b *ballot.Ballot, height uint64, now, lastBlock int64) BallotView {
	d := b.Def
	index, _ := s.cfg.State.BallotIndex(b.ID)
	return BallotView{
		BallotID:   b.ID,
		Index:      index,
		Status:     BallotStatus(d, now, lastBlock, s.sealedCounted(b.ID)),
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

// Paging of list endpoints.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// pageQuery reads ?limit= (1..MaxPageSize, default DefaultPageSize) and
// ?before= (an index: the page holds what comes before it; default: from
// the newest).
func pageQuery(r *http.Request) (before, limit int, err error) {
	q := r.URL.Query()
	before = -1
	if limit, err = limitQuery(r, MaxPageSize); err != nil {
		return 0, 0, err
	}
	if v := q.Get("before"); v != "" {
		n, err := queryUint(v)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: before %s: want an index ≥ 0", ErrBadRequest, quoteShort(v))
		}
		before = int(min(n, math.MaxInt)) // past the newest: from the newest
	}
	return before, limit, nil
}

// queryUint reads a query parameter's unsigned decimal: digits only (no
// sign, no blank), at most 2^64 − 1.
func queryUint(v string) (uint64, error) {
	if v == "" || v[0] < '0' || v[0] > '9' {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(v, 10, 64)
}

// quoteShort quotes a client's value for an error message, its first 64
// bytes only.
func quoteShort(v string) string {
	if len(v) > 64 {
		return strconv.Quote(v[:64]) + "…"
	}
	return strconv.Quote(v)
}

// limitQuery reads ?limit= (1..max, default DefaultPageSize).
func limitQuery(r *http.Request, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return min(DefaultPageSize, max), nil
	}
	n, err := queryUint(v)
	if err != nil || n < 1 || n > uint64(max) {
		return 0, fmt.Errorf("%w: limit %s: want 1 to %d", ErrBadRequest, quoteShort(v), max)
	}
	return int(n), nil
}

// ballots lists the ballots newest first, a page at a time.
func (s *Server) ballots(w http.ResponseWriter, r *http.Request) {
	before, limit, err := pageQuery(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	now, lastBlock := s.clocks()
	out := BallotsView{Ballots: []BallotView{}, Total: s.cfg.State.Count()}
	for _, id := range s.cfg.State.Page(before, limit) {
		b, h, found, err := s.cfg.State.BallotAt(id)
		if err != nil {
			WriteError(w, err)
			return
		}
		if found {
			out.Ballots = append(out.Ballots, s.ballotView(b, h, now, lastBlock))
		}
	}
	if n := len(out.Ballots); n == limit && out.Ballots[n-1].Index > 0 {
		next := out.Ballots[n-1].Index
		out.NextBefore = &next
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
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		WriteError(w, fmt.Errorf("%w: format %s: want json or csv", ErrBadRequest, quoteShort(format)))
		return
	}
	snap, found, err := s.cfg.State.Snapshot(b.ID)
	if err != nil || !found {
		WriteError(w, fmt.Errorf("results of %s: found %v, %v", b.ID, found, err))
		return
	}
	res := snap.Results
	now, lastBlock := s.clocks()
	v := ResultsView{BallotID: b.ID, Height: snap.Height, Status: BallotStatus(b.Def, now, lastBlock, s.sealedCounted(b.ID)),
		Index: snap.Index, Proof: snap.Proof, RecordsRoot: snap.RecordsRoot, AppHash: snap.AppHash, Results: res,
		Attestations: s.cfg.Witnesses.AttestationCount(snap.Height)}
	v.Sealed = res.Sealed
	v.Choices = []ChoiceCount{} // no null, even when sealed
	// A sealed ballot's counts exist only after its count.
	if !res.Sealed {
		for i, label := range b.Def.Choices {
			v.Choices = append(v.Choices, ChoiceCount{Label: label, Count: res.Counts[i]})
		}
	}
	v.Casts = CastCounts{Final: res.Casts, Counted: res.Voters(), Replaced: res.Casts - res.Voters(),
		Pending: s.cfg.Backend.PendingCasts(b.ID)}
	// The results page polls with If-None-Match: what it shows changes
	// with the height, the pending casts, the status and the attestations.
	etag := fmt.Sprintf(`"%d-%d-%d-%s-%s"`, v.Height, v.Casts.Pending, v.Attestations, v.Status, format)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="results-%s.csv"`, b.ID.Short()))
		v.WriteCSV(w)
		return
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

// etagMatch reports whether an If-None-Match header names etag: "*", or
// a list of entity tags one of which is etag by the weak comparison (RFC
// 9110 §13.1.2: W/ aside, the same opaque tag).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}
