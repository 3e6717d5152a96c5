package client

import (
	"context"
	"fmt"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// resultsPoll is how often VerifiedResults asks for the block that signs
// the results while it waits for it.
const resultsPoll = 250 * time.Millisecond

// CheckedResults are a ballot's results as a node served them, checked
// against the genesis as far as the chain allows.
type CheckedResults struct {
	View   *api.ResultsView
	Ballot *ballot.Ballot
	// Signed is true when the header at View.Height+1 is final and
	// commits to these results: they then hold without trusting the node.
	// False only while that block is not made yet (the results of the
	// newest block wait for the next one to be signed).
	Signed bool
	// Signers is the number of validators whose signatures commit to them.
	Signers int
}

// VerifiedResults fetches a ballot's results and checks them against the
// genesis g: the ballot's definition against its id and the chain, the
// counts against the results leaf, the leaf's proof into the app hash,
// and, once it exists, the header at height+1 that carries that app hash
// and its commit by a quorum of g's validators. A node that lies about the
// counts fails here. The node serves the results of its newest block,
// whose signatures come with the next one: VerifiedResults waits up to
// wait for that block (0: not at all; Signed false if it is not final by
// then), calling waiting once if it does wait.
func (n *Node) VerifiedResults(ctx context.Context, g *consensus.Genesis, id consensus.Hash, wait time.Duration, waiting func(next uint64)) (*CheckedResults, error) {
	rules := ballot.NewRules(g)
	b, _, err := n.Ballot(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := b.Def.Check(rules); err != nil {
		return nil, fmt.Errorf("ballot %s is not of this chain: %w", id, err)
	}
	v, err := n.Results(ctx, id)
	if err != nil {
		return nil, err
	}
	res := v.Results
	counted := !res.Sealed // a sealed ballot has counts only once counted
	if res.BallotID != id || counted && len(v.Choices) != len(b.Def.Choices) || len(res.Counts) != len(v.Choices) {
		return nil, fmt.Errorf("node %s served results that are not ballot %s's", n.base, id)
	}
	for i, c := range v.Choices {
		if c.Count != res.Counts[i] || c.Label != b.Def.Choices[i] {
			return nil, fmt.Errorf("node %s served counts that differ from its own results leaf", n.base)
		}
	}
	// The header at height+1, once it exists, with its commit: without
	// it, CheckResults checks the proof alone.
	var next *consensus.Header
	var commit *consensus.Commit
	deadline := time.Now().Add(wait)
	for asked := false; ; asked = true {
		blk, err := n.BlockIDs(ctx, v.Height+1)
		if err == nil {
			next, commit = &blk.Header, blk.Commit
			break
		}
		if !IsCode(err, "not_found") {
			return nil, err
		}
		if !time.Now().Before(deadline) {
			break
		}
		if !asked && waiting != nil {
			waiting(v.Height + 1)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(resultsPoll):
		}
	}
	claim := &ballot.ResultsClaim{Height: v.Height, Results: res, Index: v.Index, Proof: v.Proof, RecordsRoot: v.RecordsRoot, AppHash: v.AppHash}
	signers, err := ballot.CheckResults(rules.Chain, g.ValidatorSet(), id, len(b.Def.Choices), claim, next, commit)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.base, err)
	}
	return &CheckedResults{View: v, Ballot: b, Signed: next != nil, Signers: signers}, nil
}
