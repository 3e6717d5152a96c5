package api

import (
	"fmt"
	"net/http"

	"github.com/cocorico/node/ballot"
)

// keyring serves a sealed ballot's key generation: what a keykeeper reads
// to check its shares and make its own, and a voter to seal its choice.
func (s *Server) keyring(w http.ResponseWriter, r *http.Request) {
	b, _, err := s.findBallot(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	k, found, err := s.cfg.State.Keyring(b.ID)
	if err == nil && !found {
		err = fmt.Errorf("%w: ballot %s is not sealed", ErrNotFound, b.ID)
	}
	if err != nil {
		WriteError(w, err)
		return
	}
	v := KeyringView{BallotID: b.ID, Threshold: int(b.Def.Threshold), Keykeepers: b.Def.Keykeepers,
		Qualified: k.Qualified(), Counted: k.Secret != nil, Keyring: *k}
	if v.Qualified == nil {
		v.Qualified = []int{}
	}
	if key, err := k.ElectionKey(s.cfg.Backend.Genesis().Chain(), b); err == nil {
		v.ElectionKey = key
	}
	WriteJSON(w, http.StatusOK, v)
}

// submitKeykeeper takes a keykeeper's deal, complaint, answer or share: a
// transaction envelope with exactly one of them.
func (s *Server) submitKeykeeper(w http.ResponseWriter, r *http.Request) {
	var tx ballot.Tx
	if err := ReadJSON(w, r, s.cfg.MaxBodyBytes, &tx); err != nil {
		WriteError(w, err)
		return
	}
	if tx.Definition != nil || tx.Cast != nil {
		WriteError(w, fmt.Errorf("%w: only a deal, complaint, answer or share here", ErrBadRequest))
		return
	}
	checked, err := s.cfg.Backend.Submit(r.Context(), tx.Encode())
	if err != nil {
		WriteError(w, err)
		return
	}
	id := checked.ID
	WriteJSON(w, http.StatusAccepted, SubmitView{TxID: &id})
}
