package client

import (
	"context"
	"fmt"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

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
// counts fails here.
func (n *Node) VerifiedResults(ctx context.Context, g *consensus.Genesis, id consensus.Hash) (*CheckedResults, error) {
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
	if res.BallotID != id || len(res.Counts) != len(b.Def.Choices) && !res.Sealed || len(v.Choices) != len(res.Counts) {
		return nil, fmt.Errorf("node %s served results that are not ballot %s's", n.base, id)
	}
	for i, c := range v.Choices {
		if c.Count != res.Counts[i] || c.Label != b.Def.Choices[i] {
			return nil, fmt.Errorf("node %s served counts that differ from its own results leaf", n.base)
		}
	}
	if v.Proof.Index != uint64(v.Index) {
		return nil, fmt.Errorf("node %s served a proof of leaf %d for index %d", n.base, v.Proof.Index, v.Index)
	}
	root, err := v.Proof.Root(ballot.ResultsLeaf(&res))
	if err != nil {
		return nil, fmt.Errorf("results proof: %w", err)
	}
	if ballot.AppHashOf(root) != v.AppHash {
		return nil, fmt.Errorf("node %s: the results do not prove into its app hash", n.base)
	}
	out := &CheckedResults{View: v, Ballot: b}
	next, err := n.BlockIDs(ctx, v.Height+1)
	if IsCode(err, "not_found") {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	h := next.Header
	switch {
	case h.Height != v.Height+1 || next.Commit == nil:
		return nil, fmt.Errorf("node %s served block %d for %d", n.base, h.Height, v.Height+1)
	case h.AppHash != v.AppHash:
		return nil, fmt.Errorf("the header at height %d commits to app hash %s, the node's results to %s", h.Height, h.AppHash.Short(), v.AppHash.Short())
	}
	if err := next.Commit.Verify(rules.Chain, g.ValidatorSet(), h.Height, h.Hash()); err != nil {
		return nil, fmt.Errorf("block %d: %w", h.Height, err)
	}
	out.Signed, out.Signers = true, len(next.Commit.Signatures)
	return out, nil
}
