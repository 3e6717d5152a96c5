package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
)

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	g := s.cfg.Backend.Genesis()
	info := s.cfg.Backend.Info()
	v := StatusView{
		ChainID:     g.ChainID,
		GenesisHash: g.Hash(),
		NodeID:      info.NodeID,
		Role:        info.Role,
		Peers:       info.Peers,
		Behind:      info.Behind,
		Version:     info.Version,
		Mempool:     info.Mempool,

		SyncedBlocksPerSec: info.SyncedBlocksPerSec,
		SyncedCastsPerSec:  info.SyncedCastsPerSec,
		LedgerBase:         info.LedgerBase,
		VerifiedFrom:       info.VerifiedFrom,
		Snapshots:          info.Snapshots,
	}
	if v.Snapshots == nil {
		v.Snapshots = []uint64{} // a list has one JSON form
	}
	v.Alarms = len(s.cfg.Witnesses.Alarms())
	for i, val := range g.Validators {
		v.Validators = append(v.Validators, ValidatorView{Index: i, Name: val.Name, PubKey: val.PubKey})
	}
	v.Height, v.LastBlockHash, v.LastBlockTime = s.tip()
	v.Attestations = s.cfg.Witnesses.AttestationCount(max(v.Height, RecentAttestationHeights) - RecentAttestationHeights + 1)
	WriteJSON(w, http.StatusOK, v)
}

// tip returns the last final height, its block hash and time (the
// genesis hash and time before block 1).
func (s *Server) tip() (uint64, consensus.Hash, time.Time) {
	h := s.cfg.Chain.Height()
	if h == 0 {
		g := s.cfg.Backend.Genesis()
		return 0, g.Hash(), g.GenesisTime
	}
	hdr, err := s.cfg.Chain.Header(h)
	if err != nil {
		return h, consensus.Hash{}, time.Time{}
	}
	return h, hdr.Hash(), time.UnixMilli(hdr.Time).UTC()
}

func (s *Server) genesis(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(s.cfg.Backend.Genesis().JSON())
}

func (s *Server) latestBlock(w http.ResponseWriter, r *http.Request) {
	h := s.cfg.Chain.Height()
	if h == 0 {
		WriteError(w, fmt.Errorf("%w: no block yet", ErrNotFound))
		return
	}
	s.writeBlock(w, r, h)
}

func (s *Server) block(w http.ResponseWriter, r *http.Request) {
	h, err := strconv.ParseUint(r.PathValue("height"), 10, 64)
	if err != nil || h == 0 {
		WriteError(w, fmt.Errorf("%w: height must be a positive integer", ErrBadRequest))
		return
	}
	s.writeBlock(w, r, h)
}

// writeBlock answers a block; with ?txs=false, the transaction ids only.
// The memory of block answers is bounded (a block is up to 14 MiB, its
// JSON a third more, and a slow reader holds an answer until the write
// timeout): at most BlockEncoders blocks are read and encoded at once
// (a request waits up to BlockEncodeWait for its turn), and the encoded
// answers being written are held within the Answers limits; 503
// overloaded otherwise.
func (s *Server) writeBlock(w http.ResponseWriter, r *http.Request, h uint64) {
	addr := ClientAddr(r, s.refused.header)
	key, exempt := registrar.AddressKey(addr), addr.Unmap().IsLoopback()
	t := time.NewTimer(BlockEncodeWait)
	defer t.Stop()
	select {
	case s.encoders <- struct{}{}:
	case <-t.C:
		WriteError(w, fmt.Errorf("%w: too many blocks are being answered at once", ErrOverloaded))
		return
	case <-r.Context().Done():
		return
	}
	body, err := s.encodeBlock(h, r.URL.Query().Get("txs") == "false")
	fits := err == nil && s.answers.take(key, exempt, int64(len(body)))
	<-s.encoders
	switch {
	case err != nil:
		WriteError(w, err)
		return
	case !fits:
		WriteError(w, fmt.Errorf("%w: too many block answers are being sent at once", ErrOverloaded))
		return
	}
	defer s.answers.give(key, exempt, int64(len(body)))
	h2 := w.Header()
	h2.Set("Content-Type", "application/json")
	h2.Set("X-Content-Type-Options", "nosniff")
	h2.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// encodeBlock is the JSON answer of block h (compact: a block's
// transactions are most of it, and indenting them copied it again).
func (s *Server) encodeBlock(h uint64, idsOnly bool) ([]byte, error) {
	b, err := s.cfg.Chain.Block(h)
	if err != nil {
		return nil, err
	}
	c, err := s.cfg.Chain.CommitAt(h)
	if err != nil {
		return nil, err
	}
	v := BlockView{Height: h, Hash: b.Hash(), Header: b.Header, Txs: b.Txs, Commit: c,
		TxIDs: make([]consensus.Hash, len(b.Txs))}
	for i, tx := range b.Txs {
		v.TxIDs[i] = ballot.TxID(tx)
	}
	if idsOnly {
		v.Txs = nil // left out of the answer (an empty block's list is [], not nil)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(body, '\n'), nil
}
