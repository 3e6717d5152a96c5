package api

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"github.com/cocorico/node/consensus"
)

// Witnesses is what a node has seen of the volunteers' attestations and
// alarms (docs/PROTOCOL.md §Attestations and alarms). It is kept outside
// blocks: each node answers for what reached it.
type Witnesses interface {
	// Attestations returns up to limit attestations of a height, in node
	// key order, after the key after (nil: from the first).
	Attestations(height uint64, after ed25519.PublicKey, limit int) []*consensus.Attestation
	// AttestationCount is the number of distinct non-validator nodes that
	// attested height or a later one.
	AttestationCount(height uint64) int
	// Alarms returns the alarms kept, oldest first.
	Alarms() []*consensus.Alarm
}

// RecentAttestationHeights is how far below the tip GET /v1/status counts
// attesting nodes: the nodes that re-verified a recent block.
const RecentAttestationHeights = 64

// AttestationsView is the answer of GET /v1/blocks/{height}/attestations.
type AttestationsView struct {
	Height       uint64                   `json:"height"`
	Attestations []*consensus.Attestation `json:"attestations"`
	// Count is the number of distinct nodes that attested this block or
	// a later one (a node applies blocks in order).
	Count int `json:"count"`
	// Next, when there may be more, is the ?after= of the next page.
	Next string `json:"next,omitempty"`
}

// AlarmsView is the answer of GET /v1/alarms.
type AlarmsView struct {
	Alarms []*consensus.Alarm `json:"alarms"`
}

func (s *Server) attestations(w http.ResponseWriter, r *http.Request) {
	h, err := strconv.ParseUint(r.PathValue("height"), 10, 64)
	if err != nil || h == 0 {
		WriteError(w, fmt.Errorf("%w: height must be a positive integer", ErrBadRequest))
		return
	}
	limit, err := limitQuery(r, MaxPageSize)
	if err != nil {
		WriteError(w, err)
		return
	}
	var after ed25519.PublicKey
	if v := r.URL.Query().Get("after"); v != "" {
		k, err := consensus.ParseHash(v) // 32 bytes in lowercase hex, as a hash
		if err != nil {
			WriteError(w, fmt.Errorf("%w: after %s: want a node key in lowercase hex", ErrBadRequest, quoteShort(v)))
			return
		}
		after = k[:]
	}
	v := AttestationsView{Height: h, Attestations: s.cfg.Witnesses.Attestations(h, after, limit), Count: s.cfg.Witnesses.AttestationCount(h)}
	if v.Attestations == nil {
		v.Attestations = []*consensus.Attestation{}
	}
	if n := len(v.Attestations); n == limit {
		v.Next = hex.EncodeToString(v.Attestations[n-1].Node)
	}
	WriteJSON(w, http.StatusOK, v)
}

func (s *Server) alarms(w http.ResponseWriter, r *http.Request) {
	v := AlarmsView{Alarms: s.cfg.Witnesses.Alarms()}
	if v.Alarms == nil {
		v.Alarms = []*consensus.Alarm{}
	}
	WriteJSON(w, http.StatusOK, v)
}

// noWitnesses is the Witnesses of a server configured without any.
type noWitnesses struct{}

func (noWitnesses) Attestations(uint64, ed25519.PublicKey, int) []*consensus.Attestation { return nil }
func (noWitnesses) AttestationCount(uint64) int                                          { return 0 }
func (noWitnesses) Alarms() []*consensus.Alarm                                           { return nil }
