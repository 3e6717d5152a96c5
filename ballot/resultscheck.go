package ballot

import (
	"errors"
	"fmt"

	"github.com/cocorico/node/consensus"
)

// ErrResultsUnproven: results a node served do not prove into the chain
// (docs/PROTOCOL.md §14): a wrong leaf, proof, app hash, or next header.
var ErrResultsUnproven = errors.New("results not proven")

// ResultsClaim is what a node serves of a ballot's results: the results
// at Height, the ballot's leaf Index in the results list with its Proof,
// the root of the records list beside it, and the AppHash they lead to
// (the header at Height+1 carries it).
type ResultsClaim struct {
	Height      uint64
	Results     Results
	Index       int
	Proof       consensus.Proof
	RecordsRoot consensus.Hash
	AppHash     consensus.Hash
}

// CheckResults checks claimed results of ballot id with n choices: the
// leaf's proof into the app hash and, when next is given (the header at
// Height+1 with its commit), that it carries that app hash under a quorum
// of the chain's validators. It returns how many validators signed (0
// without next: the newest results wait for the next block). The one
// check of a served result, for the CLI and the browser.
func CheckResults(chain consensus.Chain, vals *consensus.ValidatorSet, id consensus.Hash, choices int, c *ResultsClaim,
	next *consensus.Header, commit *consensus.Commit) (int, error) {
	res := &c.Results
	switch {
	case res.BallotID != id || len(res.Counts) != choices && !(res.Sealed && len(res.Counts) == 0):
		return 0, fmt.Errorf("%w: the results are not ballot %s's", ErrResultsUnproven, id.Short())
	case c.Index < 0 || c.Proof.Index != uint64(c.Index):
		return 0, fmt.Errorf("%w: a proof of leaf %d for index %d", ErrResultsUnproven, c.Proof.Index, c.Index)
	}
	root, err := c.Proof.Root(ResultsLeaf(res))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrResultsUnproven, err)
	}
	if AppHashOf(root, c.RecordsRoot) != c.AppHash {
		return 0, fmt.Errorf("%w: the results do not prove into app hash %s", ErrResultsUnproven, c.AppHash.Short())
	}
	if next == nil {
		return 0, nil
	}
	switch {
	case next.Height != c.Height+1 || commit == nil:
		return 0, fmt.Errorf("%w: block %d served for %d", ErrResultsUnproven, next.Height, c.Height+1)
	case next.AppHash != c.AppHash:
		return 0, fmt.Errorf("%w: the header at height %d commits to app hash %s, the results to %s", ErrResultsUnproven,
			next.Height, next.AppHash.Short(), c.AppHash.Short())
	}
	if err := commit.Verify(chain, vals, next.Height, next.Hash()); err != nil {
		return 0, fmt.Errorf("%w: block %d: %v", ErrResultsUnproven, next.Height, err)
	}
	return len(commit.Signatures), nil
}
