package api

import (
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// The auditor's list of counted casts: for each voter key of a ballot,
// the cast that counts (its id and block height), in voter key order —
// nothing that links a voter to a person (the chain holds no identity).

// MaxCastsPage bounds a page of GET /v1/ballots/{id}/casts.
const MaxCastsPage = 1000

// MaxCastsDownloads bounds the downloads of every counted cast
// (?format=csv) under way at once: each reads a ballot's whole voter
// records, and asking costs nothing.
const MaxCastsDownloads = 2

// CountedCast is one line of the list of counted casts.
type CountedCast struct {
	CastID consensus.Hash `json:"cast_id"`
	Height uint64         `json:"height"`
}

// CastsView is the answer of GET /v1/ballots/{id}/casts.
type CastsView struct {
	BallotID consensus.Hash `json:"ballot_id"`
	Casts    []CountedCast  `json:"casts"`
	// Next, when there may be more, is the ?after= of the next page (an
	// opaque cursor).
	Next string `json:"next,omitempty"`
}

// casts answers a page of counted casts (?limit=, ?after=), or, with
// ?format=csv, streams all of them as cast_id,height.
func (s *Server) casts(w http.ResponseWriter, r *http.Request) {
	b, _, err := s.findBallot(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	q := r.URL.Query()
	if f := q.Get("format"); f != "" && f != "json" && f != "csv" {
		WriteError(w, fmt.Errorf("%w: format %s: want json or csv", ErrBadRequest, quoteShort(f)))
		return
	}
	if q.Get("format") == "csv" {
		select {
		case s.downloads <- struct{}{}:
			defer func() { <-s.downloads }()
		default:
			WriteError(w, fmt.Errorf("%w: %d downloads of every cast are under way; try again later, or page through ?after=", ErrOverloaded, MaxCastsDownloads))
			return
		}
		s.castsCSV(w, b.ID)
		return
	}
	limit, err := limitQuery(r, MaxCastsPage)
	if err != nil {
		WriteError(w, err)
		return
	}
	var after *ballot.VoterKey
	if v := q.Get("after"); v != "" {
		raw, err := consensus.ParseHash(v) // a voter key: 32 bytes in lowercase hex, as a hash
		if err != nil {
			WriteError(w, fmt.Errorf("%w: after %s: want the next cursor of a page", ErrBadRequest, quoteShort(v)))
			return
		}
		k := ballot.VoterKey(raw)
		after = &k
	}
	v := CastsView{BallotID: b.ID, Casts: make([]CountedCast, 0, min(limit, 64))}
	var last ballot.VoterKey
	err = s.cfg.State.VotersAfter(b.ID, after, func(k ballot.VoterKey, rec ballot.VoterRecord) error {
		v.Casts = append(v.Casts, CountedCast{CastID: rec.CastID, Height: rec.Height})
		last = k
		if len(v.Casts) == limit {
			return ballot.ErrStop
		}
		return nil
	})
	if err != nil {
		WriteError(w, err)
		return
	}
	if len(v.Casts) == limit {
		v.Next = hex.EncodeToString(last[:])
	}
	WriteJSON(w, http.StatusOK, v)
}

// castsCSV streams every counted cast: one Pebble iteration, flushed as
// it goes, so a million casts never sit in memory.
func (s *Server) castsCSV(w http.ResponseWriter, id consensus.Hash) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="casts-%s.csv"`, id.Short()))
	cw := csv.NewWriter(w)
	cw.Write([]string{"cast_id", "height"})
	n := 0
	err := s.cfg.State.VotersAfter(id, nil, func(_ ballot.VoterKey, rec ballot.VoterRecord) error {
		cw.Write([]string{rec.CastID.String(), strconv.FormatUint(rec.Height, 10)})
		if n++; n%4096 == 0 {
			cw.Flush()
			return cw.Error()
		}
		return nil
	})
	cw.Flush()
	if err != nil {
		// The header is sent: the truncated file ends without its last
		// lines; the log says why.
		// A client that hangs up early is no fault of the node's, and
		// anyone can do it in a loop: one line a minute at most.
		s.cutShortLog.Do(func() { s.cfg.Logger.Warn("casts download cut short", "ballot", id.Short(), "err", err) })
	}
}
