package api

import (
	"encoding/json"
	"errors"
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
// (a request waits up to BlockEncodeWait for its turn), and the answers
// being written are held within the Answers limits; 503 overloaded
// otherwise. The room is taken on the answer's largest size, computed
// from the block, before it is encoded, and an address without room is
// refused before its block is read: a refused answer costs no encoding.
func (s *Server) writeBlock(w http.ResponseWriter, r *http.Request, h uint64) {
	txs := r.URL.Query().Get("txs")
	if txs != "" && txs != "true" && txs != "false" {
		WriteError(w, fmt.Errorf("%w: txs %s: want true or false", ErrBadRequest, quoteShort(txs)))
		return
	}
	addr := ClientAddr(r, s.refused.header)
	key, exempt := registrar.AddressKey(addr), addr.Unmap().IsLoopback()
	overloaded := fmt.Errorf("%w: too many block answers are being sent at once", ErrOverloaded)
	if !s.answers.room(key, exempt) {
		WriteError(w, overloaded)
		return
	}
	if !takeTurn(w, r, s.encoders, BlockEncodeWait, "blocks are being answered") {
		return
	}
	body, held, err := s.encodeBlock(h, txs == "false", func(n int64) bool { return s.answers.take(key, exempt, n) })
	<-s.encoders
	defer s.answers.give(key, exempt, held) // once written (or refused)
	switch {
	case errors.Is(err, errNoRoom):
		WriteError(w, overloaded)
		return
	case err != nil:
		WriteError(w, err)
		return
	}
	h2 := w.Header()
	h2.Set("Content-Type", "application/json")
	h2.Set("X-Content-Type-Options", "nosniff")
	h2.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// blockAnswerBytes bounds the JSON answer of a block from above: each
// transaction's base64 (4 bytes per 3, rounded up) and its id (64 hex
// digits), with their quotes and commas, and room for the header and the
// commit (a signature's JSON is under 160 bytes).
func blockAnswerBytes(b *consensus.Block, c *consensus.Commit, idsOnly bool) int64 {
	n := int64(4096 + 160*len(c.Signatures) + 70*len(b.Txs))
	if !idsOnly {
		for _, tx := range b.Txs {
			n += int64(4*((len(tx)+2)/3) + 3)
		}
	}
	return n
}

// encodeBlock is the JSON answer of block h (compact: a block's
// transactions are most of it, and indenting them copied it again). It
// takes the answer's room with reserve, on its largest size, before it
// encodes (errNoRoom if there is none), and returns the room it holds.
func (s *Server) encodeBlock(h uint64, idsOnly bool, reserve func(int64) bool) ([]byte, int64, error) {
	b, err := s.cfg.Chain.Block(h)
	if err != nil {
		return nil, 0, err
	}
	c, err := s.cfg.Chain.CommitAt(h)
	if err != nil {
		return nil, 0, err
	}
	room := blockAnswerBytes(b, c, idsOnly)
	if !reserve(room) {
		return nil, 0, errNoRoom
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
		return nil, room, err
	}
	return append(body, '\n'), room, nil
}
