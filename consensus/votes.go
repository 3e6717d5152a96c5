package consensus

import "slices"

// voteSet holds the votes of one height, by round and type, and notices
// when a validator signs two different votes for the same height, round
// and type (evidence).
//
// An equivocator's conflicting votes are all kept (a few per validator)
// and each counts for its own block, as CometBFT's vote sets do once a
// peer claims a majority for a block: otherwise a validator that saw the
// "wrong" version first could never count a proof of lock that others
// count, and an equivocator could stall the chain. This is safe: for two
// blocks to both reach 2f+1 votes, f+1 correct validators would have to
// vote for each, and there are only 2f+1 of them.
type voteSet struct {
	vals   *ValidatorSet
	height uint64
	rounds map[uint32]*roundVotes
}

// maxVersions bounds the conflicting votes kept per validator and step.
const maxVersions = 4

type roundVotes struct {
	prevotes   map[uint16][]*Vote
	precommits map[uint16][]*Vote
	// senders are the validators seen with any message in the round (the
	// f+1 rule of round skipping, Algorithm 1 line 55).
	senders map[uint16]bool
}

func newVoteSet(vals *ValidatorSet, height uint64) *voteSet {
	return &voteSet{vals: vals, height: height, rounds: map[uint32]*roundVotes{}}
}

func (s *voteSet) round(r uint32) *roundVotes {
	rv, ok := s.rounds[r]
	if !ok {
		rv = &roundVotes{prevotes: map[uint16][]*Vote{}, precommits: map[uint16][]*Vote{}, senders: map[uint16]bool{}}
		s.rounds[r] = rv
	}
	return rv
}

// add records v. It returns added=false for a duplicate, and the earlier
// vote v conflicts with when the validator equivocates.
func (s *voteSet) add(v *Vote) (added bool, conflict *Vote) {
	rv := s.round(v.Round)
	m := rv.prevotes
	if v.Type == Precommit {
		m = rv.precommits
	}
	versions := m[v.Validator]
	for _, prev := range versions {
		if prev.BlockHash == v.BlockHash {
			return false, nil
		}
	}
	if len(versions) > 0 {
		conflict = versions[0]
	}
	if len(versions) >= maxVersions {
		return false, conflict
	}
	m[v.Validator] = append(versions, v)
	rv.senders[v.Validator] = true
	return true, conflict
}

func (s *voteSet) sawSender(r uint32, i uint16) { s.round(r).senders[i] = true }

func (s *voteSet) votes(r uint32, t VoteType) map[uint16][]*Vote {
	rv, ok := s.rounds[r]
	if !ok {
		return nil
	}
	if t == Precommit {
		return rv.precommits
	}
	return rv.prevotes
}

// count returns how many validators voted for block with type t in round r.
func (s *voteSet) count(r uint32, t VoteType, block Hash) int {
	n := 0
	for _, versions := range s.votes(r, t) {
		for _, v := range versions {
			if v.BlockHash == block {
				n++
				break
			}
		}
	}
	return n
}

// total returns how many validators voted with type t in round r.
func (s *voteSet) total(r uint32, t VoteType) int { return len(s.votes(r, t)) }

// quorumFor returns the block (maybe the zero hash, nil) that has a
// quorum of votes of type t in round r; the smallest hash if several.
func (s *voteSet) quorumFor(r uint32, t VoteType) (Hash, bool) {
	tally := map[Hash]int{}
	for _, versions := range s.votes(r, t) {
		for _, v := range versions {
			tally[v.BlockHash]++
		}
	}
	var best Hash
	found := false
	for h, n := range tally {
		if n >= s.vals.Quorum() && (!found || slices.Compare(h[:], best[:]) < 0) {
			best, found = h, true
		}
	}
	return best, found
}

// senders returns how many validators sent anything in round r.
func (s *voteSet) senders(r uint32) int {
	rv, ok := s.rounds[r]
	if !ok {
		return 0
	}
	return len(rv.senders)
}

// precommitsFor returns the precommits of round r for block.
func (s *voteSet) precommitsFor(r uint32, block Hash) []*Vote {
	var out []*Vote
	for _, versions := range s.votes(r, Precommit) {
		for _, v := range versions {
			if v.BlockHash == block {
				out = append(out, v)
			}
		}
	}
	return out
}

// roundNumbers returns the rounds with messages, in increasing order, so
// that the machine's choices do not depend on map order.
func (s *voteSet) roundNumbers() []uint32 {
	out := make([]uint32, 0, len(s.rounds))
	for r := range s.rounds {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}
