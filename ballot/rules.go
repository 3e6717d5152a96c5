package ballot

import "github.com/cocorico/node/consensus"

// Rules are what a chain's genesis fixes for its ballots: the chain's
// identity (every voter and organizer signature binds its genesis hash),
// the organizers allowed to create ballots, and the bounds on a voter
// key's casts. docs/PROTOCOL.md §4, §13.
type Rules struct {
	Chain consensus.Chain
	App   consensus.AppParams
}

// NewRules returns the rules of the chain g founds. g must be valid.
func NewRules(g *consensus.Genesis) Rules {
	return Rules{Chain: g.Chain(), App: g.App}
}
