//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"syscall/js"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// resultsJSON is the part of GET /v1/ballots/{id}/results the check reads.
type resultsJSON struct {
	Height      uint64          `json:"height"`
	Results     ballot.Results  `json:"results"`
	Index       int             `json:"index"`
	Proof       consensus.Proof `json:"proof"`
	RecordsRoot consensus.Hash  `json:"records_root"`
	AppHash     consensus.Hash  `json:"app_hash"`
}

// blockJSON is the part of GET /v1/blocks/{h} the check reads.
type blockJSON struct {
	Header consensus.Header  `json:"header"`
	Commit *consensus.Commit `json:"commit"`
}

type resultsCheckView struct {
	// Signed: the header at height+1 carries the results' app hash under
	// a quorum of the genesis validators.
	Signed     bool `json:"signed"`
	Signers    int  `json:"signers"`
	Validators int  `json:"validators"`
}

// verifyResults(genesis, definition, ballotID, results, nextBlock) checks
// a node's results as `cocorico results` does (ballot.CheckResults): the
// leaf's proof into the app hash and, when nextBlock is not "", the next
// header's commit: {signed, signers, validators}.
func (c *client) verifyResults(args []js.Value) (any, error) {
	g, b, err := chainBallot(args)
	if err != nil {
		return nil, err
	}
	s, err := strArg(args, 3)
	if err != nil {
		return nil, err
	}
	var r resultsJSON
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	claim := &ballot.ResultsClaim{Height: r.Height, Results: r.Results, Index: r.Index, Proof: r.Proof, RecordsRoot: r.RecordsRoot, AppHash: r.AppHash}
	out := resultsCheckView{Validators: len(g.Validators)}
	nb, err := strArg(args, 4)
	if err != nil {
		return nil, err
	}
	var next *consensus.Header
	var commit *consensus.Commit
	if nb != "" {
		var blk blockJSON
		if err := json.Unmarshal([]byte(nb), &blk); err != nil {
			return nil, fmt.Errorf("next block: %w", err)
		}
		next, commit = &blk.Header, blk.Commit
	}
	if out.Signers, err = ballot.CheckResults(g.Chain(), g.ValidatorSet(), b.ID, len(b.Def.Choices), claim, next, commit); err != nil {
		return nil, err
	}
	out.Signed = next != nil
	return out, nil
}
