package consensus

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Step is where a validator is in a round.
type Step uint8

var _ fmt.Stringer = Step(0)

// Steps of a round, in order, and the state after a decision.
const (
	StepPropose   Step = 1
	StepPrevote   Step = 2
	StepPrecommit Step = 3
	StepDecided   Step = 4
)

func (s Step) String() string {
	switch s {
	case StepPropose:
		return "propose"
	case StepPrevote:
		return "prevote"
	case StepPrecommit:
		return "precommit"
	case StepDecided:
		return "decided"
	}
	return "step?"
}

// HardState is what a validator must persist before any message of the
// same Ready leaves it (as raft's HardState): where it is, what it locked,
// and the last message it signed. A machine rebuilt from it never signs a
// message that conflicts with one it signed before (docs/CONSENSUS.md §Hard state).
type HardState struct {
	Height      uint64 `json:"height"`
	Round       uint32 `json:"round"`
	Step        Step   `json:"step"`
	LockedRound int32  `json:"locked_round"`
	LockedHash  Hash   `json:"locked_hash"`
	ValidRound  int32  `json:"valid_round"`
	ValidHash   Hash   `json:"valid_hash"`
	// The last message signed: (height, round, step) only grow, and for
	// equal ones only the identical message may be signed again.
	SignedHeight uint64 `json:"signed_height"`
	SignedRound  uint32 `json:"signed_round"`
	SignedStep   Step   `json:"signed_step"`
	SignedHash   Hash   `json:"signed_hash"`
	// ValidBlock is the block of ValidHash (the locked block is the valid
	// one or an older one the lock no longer matters for). It must be
	// persisted too: a validator that locked on a block nobody else kept
	// must be able to propose it again, or the height never ends. The
	// driver stores it apart from the rest, only when it changes.
	ValidBlock *Block `json:"-"`
	// Votes are the votes signed in the last signed round: after a crash
	// they are sent again, since peers may never have got them and a
	// different vote may not be signed in their place.
	Votes []*Vote `json:"votes,omitempty"`
}

// Timeout asks the caller to call Machine.Timeout with it after Duration.
type Timeout struct {
	Height   uint64
	Round    uint32
	Step     Step
	Duration time.Duration
}

// ProposalRequest asks the caller for a block to propose: it calls
// Machine.ProposalReady with it.
type ProposalRequest struct {
	Height uint64
	Round  uint32
}

// Decision is a final block and the commit that proves it.
type Decision struct {
	Block  *Block
	Commit *Commit
}

// Ready is what the machine asks of the outside world after an input: the
// hard state to persist first, then messages to broadcast, timeouts to
// schedule, a block to build, a decision to apply, new evidence.
type Ready struct {
	HardState *HardState
	Messages  []*Message
	Timeouts  []Timeout
	Propose   *ProposalRequest
	Decision  *Decision
	Evidence  []Evidence
	// RoundChanges counts rounds started beyond round 0 (for metrics).
	RoundChanges int
}

// MachineConfig configures a Machine.
type MachineConfig struct {
	Chain  Chain
	Vals   *ValidatorSet
	Params Params
	// Key signs this validator's messages; Index is its place in Vals.
	Key   ed25519.PrivateKey
	Index uint16
}

// maxRoundsAhead bounds how far beyond its round a machine keeps
// messages, so that a faulty validator cannot fill its memory.
const maxRoundsAhead = 1000

// maxEvidence bounds the evidence a machine keeps.
const maxEvidence = 1000

// Machine is one validator's Tendermint consensus (Buchman, Kwon,
// Milosevic, arXiv:1807.04938, Algorithm 1) as a deterministic state
// machine: it reads no clock, does no I/O and starts no goroutine. Inputs
// are method calls; outputs accumulate in a Ready that the caller drains.
// Incoming messages must have been verified (signer and signature) by the
// caller; the proposal's validity (the paper's valid(v)) is the
// application's verdict, given with the proposal. Not safe for concurrent use.
type Machine struct {
	cfg MachineConfig
	hs  HardState

	height  uint64
	round   uint32
	step    Step
	started bool

	lockedRound int32
	lockedHash  Hash
	validRound  int32
	validHash   Hash

	blocks    map[Hash]*Block
	validity  map[Hash]bool
	proposals map[uint32]*Proposal
	// timely is, per round, whether that round's proposal came in time
	// (proposer-based timestamps, consensus/timely.go): checked only for
	// a fresh proposal's prevote, never for deciding or a re-proposal.
	timely map[uint32]bool
	votes  *voteSet

	prevoteTimeout   map[uint32]bool // line 34 fired
	precommitTimeout map[uint32]bool // line 47 fired
	lockedOnce       map[uint32]bool // line 36 fired

	ready    Ready
	dirty    bool
	evidence []Evidence
}

// NewMachine returns a machine resuming from hs (the zero HardState for a
// validator that never signed anything). Call StartHeight to begin.
func NewMachine(cfg MachineConfig, hs HardState) (*Machine, error) {
	if cfg.Vals == nil {
		return nil, errors.New("consensus: machine without validators")
	}
	if v, ok := cfg.Vals.Get(cfg.Index); !ok || !v.PubKey.Equal(cfg.Key.Public()) {
		return nil, errors.New("consensus: the machine's key is not validator Index")
	}
	return &Machine{cfg: cfg, hs: hs}, nil
}

// StartHeight begins height h. If the persisted hard state is at h, the
// machine resumes its round and its lock there.
func (m *Machine) StartHeight(h uint64) {
	m.height, m.started = h, true
	m.lockedRound, m.lockedHash, m.validRound, m.validHash = -1, Hash{}, -1, Hash{}
	m.blocks, m.validity, m.proposals, m.timely = map[Hash]*Block{}, map[Hash]bool{}, map[uint32]*Proposal{}, map[uint32]bool{}
	m.votes = newVoteSet(m.cfg.Vals, h)
	m.prevoteTimeout, m.precommitTimeout, m.lockedOnce = map[uint32]bool{}, map[uint32]bool{}, map[uint32]bool{}
	m.round = 0
	round := uint32(0)
	if m.hs.Height == h {
		round = m.hs.Round
		m.lockedRound, m.lockedHash = m.hs.LockedRound, m.hs.LockedHash
		m.validRound, m.validHash = m.hs.ValidRound, m.hs.ValidHash
		if b := m.hs.ValidBlock; b != nil && b.Hash() == m.validHash {
			m.blocks[m.validHash], m.validity[m.validHash] = b, true
		}
	}
	m.startRound(round)
	if m.hs.SignedHeight == h {
		for _, v := range m.hs.Votes {
			if m.votes.add(v); v.Round == m.round {
				m.ready.Messages = append(m.ready.Messages, &Message{Vote: v})
			}
		}
	}
	m.evaluate()
}

// Height returns the height the machine works on.
func (m *Machine) Height() uint64 { return m.height }

// HasReady reports whether Ready has anything.
func (m *Machine) HasReady() bool {
	r := &m.ready
	return m.dirty || len(r.Messages) > 0 || len(r.Timeouts) > 0 || r.Propose != nil || r.Decision != nil || len(r.Evidence) > 0
}

// Ready returns and clears the outputs accumulated since the last call.
// The caller persists HardState (if set) before sending Messages.
func (m *Machine) Ready() Ready {
	r := m.ready
	if m.dirty {
		hs := m.hardState()
		r.HardState = &hs
		m.dirty = false
	}
	m.ready = Ready{}
	return r
}

func (m *Machine) hardState() HardState {
	hs := m.hs
	hs.Votes = slices.Clone(m.hs.Votes)
	hs.ValidBlock = nil
	if !m.validHash.IsZero() {
		hs.ValidBlock = m.blocks[m.validHash]
	}
	hs.Height, hs.Round, hs.Step = m.height, m.round, m.step
	hs.LockedRound, hs.LockedHash, hs.ValidRound, hs.ValidHash = m.lockedRound, m.lockedHash, m.validRound, m.validHash
	return hs
}

// Evidence returns the evidence of equivocation seen so far.
func (m *Machine) Evidence() []Evidence { return append([]Evidence(nil), m.evidence...) }

// Status describes the machine, for the API and logs.
type Status struct {
	Height      uint64 `json:"height"`
	Round       uint32 `json:"round"`
	Step        string `json:"step"`
	Proposer    uint16 `json:"proposer"`
	LockedRound int32  `json:"locked_round"`
	ValidRound  int32  `json:"valid_round"`
}

// Status returns the machine's status.
func (m *Machine) Status() Status {
	return Status{Height: m.height, Round: m.round, Step: m.step.String(),
		Proposer: m.cfg.Vals.Proposer(m.height, m.round), LockedRound: m.lockedRound, ValidRound: m.validRound}
}

func (m *Machine) quorum() int { return m.cfg.Vals.Quorum() }

func (m *Machine) proposer(r uint32) uint16 { return m.cfg.Vals.Proposer(m.height, r) }

// startRound is StartRound of Algorithm 1 (lines 11-21).
func (m *Machine) startRound(r uint32) {
	if r > m.round {
		m.ready.RoundChanges += int(r - m.round)
	}
	m.round, m.step, m.dirty = r, StepPropose, true
	// The paper schedules the propose timeout for the others only; the
	// proposer schedules it too, so that a proposal it cannot make (no
	// block, or a restart that forbids signing a different one) costs a
	// round, not the height.
	m.schedule(StepPropose)
	if m.proposer(r) != m.cfg.Index {
		return
	}
	if !m.validHash.IsZero() {
		if b, ok := m.blocks[m.validHash]; ok {
			m.propose(b, m.validRound)
			return
		}
	}
	m.ready.Propose = &ProposalRequest{Height: m.height, Round: r}
	// If the block never comes, the others' timeouts move the round on
	// and the f+1 rule pulls this validator along.
}

func (m *Machine) schedule(s Step) {
	p := m.cfg.Params
	var d int64
	switch s {
	case StepPropose:
		d = p.TimeoutProposeMs + int64(m.round)*p.TimeoutProposeDeltaMs
	default:
		d = p.TimeoutVoteMs + int64(m.round)*p.TimeoutVoteDeltaMs
	}
	m.ready.Timeouts = append(m.ready.Timeouts, Timeout{Height: m.height, Round: m.round, Step: s, Duration: time.Duration(d) * time.Millisecond})
}

// ProposalReady gives the block the machine asked for in a
// ProposalRequest. It is ignored if the machine has moved on.
func (m *Machine) ProposalReady(h uint64, r uint32, b *Block) {
	if !m.started || h != m.height || r != m.round || m.step != StepPropose || m.proposer(r) != m.cfg.Index || m.proposals[r] != nil {
		return
	}
	m.propose(b, -1)
	m.evaluate()
}

func (m *Machine) propose(b *Block, validRound int32) {
	id := b.Hash()
	if !m.maySign(StepPropose, m.round, id) {
		return
	}
	p := &Proposal{Height: m.height, Round: m.round, POLRound: validRound, Block: *b, Validator: m.cfg.Index}
	p.Sign(m.cfg.Chain, m.cfg.Key)
	m.ready.Messages = append(m.ready.Messages, &Message{Proposal: p})
	m.acceptProposal(p, true, true) // stamped with this validator's clock
}

// maySign is the double-sign guard: it allows a signature only for a
// (height, round, step) beyond the last signed one, or the identical
// message again, and records it in the hard state.
func (m *Machine) maySign(s Step, r uint32, id Hash) bool {
	hs := &m.hs
	if m.height < hs.SignedHeight {
		return false
	}
	if m.height == hs.SignedHeight {
		switch {
		case r < hs.SignedRound:
			return false
		case r == hs.SignedRound && s < hs.SignedStep:
			return false
		case r == hs.SignedRound && s == hs.SignedStep && id != hs.SignedHash:
			return false
		}
	}
	hs.SignedHeight, hs.SignedRound, hs.SignedStep, hs.SignedHash = m.height, r, s, id
	m.dirty = true
	return true
}

func (m *Machine) vote(t VoteType, id Hash) {
	s := StepPrevote
	if t == Precommit {
		s = StepPrecommit
	}
	if !m.maySign(s, m.round, id) {
		return
	}
	v := &Vote{Type: t, Height: m.height, Round: m.round, BlockHash: id, Validator: m.cfg.Index}
	v.Sign(m.cfg.Chain, m.cfg.Key)
	m.votes.add(v)
	if n := len(m.hs.Votes); n > 0 && (m.hs.Votes[n-1].Height != v.Height || m.hs.Votes[n-1].Round != v.Round) {
		m.hs.Votes = nil
	}
	if !slices.ContainsFunc(m.hs.Votes, func(o *Vote) bool { return o.Type == v.Type }) {
		m.hs.Votes = append(m.hs.Votes, v)
	}
	m.ready.Messages = append(m.ready.Messages, &Message{Vote: v})
}

// StepProposal takes a proposal whose signature the caller verified, with
// the application's verdict on its block (valid(v)) and whether the caller
// took it in time (Params.Timely with its clock at the moment it took the
// message; only a fresh proposal's prevote depends on it).
func (m *Machine) StepProposal(p *Proposal, valid, timely bool) {
	if !m.started || p.Height != m.height || p.Round > m.round+maxRoundsAhead || p.Validator != m.proposer(p.Round) {
		return
	}
	m.acceptProposal(p, valid, timely)
	m.evaluate()
}

func (m *Machine) acceptProposal(p *Proposal, valid, timely bool) {
	if _, ok := m.proposals[p.Round]; ok {
		return // the first proposal of a round stands
	}
	id := p.Block.Hash()
	m.proposals[p.Round] = p
	m.timely[p.Round] = timely
	if _, ok := m.blocks[id]; !ok {
		m.blocks[id] = &p.Block
		m.validity[id] = valid
	}
	m.votes.sawSender(p.Round, p.Validator)
}

// StepVote takes a vote whose signature the caller verified.
func (m *Machine) StepVote(v *Vote) {
	if !m.started || v.Height != m.height || v.Round > m.round+maxRoundsAhead {
		return
	}
	added, conflict := m.votes.add(v)
	if conflict != nil && added && len(m.evidence) < maxEvidence {
		e := Evidence{VoteA: conflict, VoteB: v}
		m.evidence = append(m.evidence, e)
		m.ready.Evidence = append(m.ready.Evidence, e)
	}
	if added {
		m.evaluate()
	}
}

// Timeout fires a timeout the machine scheduled (lines 57-66).
func (m *Machine) Timeout(t Timeout) {
	if !m.started || t.Height != m.height || t.Round != m.round || m.step == StepDecided {
		return
	}
	switch {
	case t.Step == StepPropose && m.step == StepPropose:
		m.vote(Prevote, Hash{})
		m.step, m.dirty = StepPrevote, true
	case t.Step == StepPrevote && m.step == StepPrevote:
		m.vote(Precommit, Hash{})
		m.step, m.dirty = StepPrecommit, true
	case t.Step == StepPrecommit:
		m.startRound(m.round + 1)
	}
	m.evaluate()
}

// DecideWithCommit is the catch-up path: given a block of the current
// height and a commit for it that the caller verified, the machine decides
// it (a lagging validator that missed the rounds).
func (m *Machine) DecideWithCommit(b *Block, c *Commit) bool {
	if !m.started || m.step == StepDecided || b.Header.Height != m.height || c.Height != m.height || c.BlockHash != b.Hash() {
		return false
	}
	m.decide(b, c)
	return true
}

func (m *Machine) decide(b *Block, c *Commit) {
	m.step, m.dirty = StepDecided, true
	m.ready.Decision = &Decision{Block: b, Commit: c}
}

// evaluate applies the upon-rules of Algorithm 1 until none fires.
func (m *Machine) evaluate() {
	for m.step != StepDecided && m.evaluateOnce() {
	}
}

// evaluateOnce applies the first of the paper's rules (Algorithm 1) whose
// condition holds, in the paper's order, and reports whether the state
// changed so that another rule may now apply.
func (m *Machine) evaluateOnce() bool {
	if m.decideOnPrecommitQuorum() {
		return false
	}
	p := m.proposals[m.round]
	var id Hash
	if p != nil {
		id = p.Block.Hash()
	}
	if m.prevoteOnProposal(p, id) {
		return true
	}
	// Lines 34-35: any quorum of prevotes starts the prevote timeout.
	if r := m.round; m.step == StepPrevote && !m.prevoteTimeout[r] && m.votes.total(r, Prevote) >= m.quorum() {
		m.prevoteTimeout[r] = true
		m.schedule(StepPrevote)
	}
	if m.precommitOnPrevoteQuorum(p, id) {
		return true
	}
	// Lines 47-48: any quorum of precommits starts the precommit timeout.
	if r := m.round; !m.precommitTimeout[r] && m.votes.total(r, Precommit) >= m.quorum() {
		m.precommitTimeout[r] = true
		m.schedule(StepPrecommit)
	}
	return m.skipToHigherRound()
}

// decideOnPrecommitQuorum is lines 49-54: a block with a quorum of
// precommits in any round is decided.
func (m *Machine) decideOnPrecommitQuorum() bool {
	for _, rr := range m.votes.roundNumbers() {
		if h, ok := m.votes.quorumFor(rr, Precommit); ok && !h.IsZero() {
			if b, known := m.blocks[h]; known && m.validity[h] {
				c, err := NewCommit(m.votes.precommitsFor(rr, h))
				if err == nil {
					m.decide(b, c)
					return true
				}
			}
		}
	}
	return false
}

// prevoteOnProposal is lines 22-33: the prevote on the round's proposal
// p (of hash id), fresh or re-proposed with a proof of lock.
func (m *Machine) prevoteOnProposal(p *Proposal, id Hash) bool {
	if m.step != StepPropose || p == nil {
		return false
	}
	var vote bool
	switch vr := p.POLRound; {
	case vr == -1:
		// Lines 22-27: a fresh proposal, prevoted only if it is also
		// timely (PBTS: valid(v) ∧ timely(v); consensus/timely.go).
		vote = m.validity[id] && m.timely[m.round] && (m.lockedRound == -1 || m.lockedHash == id)
	case vr >= 0 && uint32(vr) < m.round && m.votes.count(uint32(vr), Prevote, id) >= m.quorum():
		// Lines 28-33: a re-proposal with a proof of lock from round vr.
		vote = m.validity[id] && (m.lockedRound <= vr || m.lockedHash == id)
	default:
		return false
	}
	if vote {
		m.vote(Prevote, id)
	} else {
		m.vote(Prevote, Hash{})
	}
	m.step, m.dirty = StepPrevote, true
	return true
}

// precommitOnPrevoteQuorum is lines 36-46: a quorum of prevotes for the
// round's valid proposal p (of hash id) locks it and precommits it, a
// quorum of prevotes for nil precommits nil.
func (m *Machine) precommitOnPrevoteQuorum(p *Proposal, id Hash) bool {
	r, q := m.round, m.quorum()
	// Lines 36-43.
	if p != nil && m.validity[id] && m.step >= StepPrevote && !m.lockedOnce[r] && m.votes.count(r, Prevote, id) >= q {
		m.lockedOnce[r] = true
		if m.step == StepPrevote {
			m.lockedRound, m.lockedHash = int32(r), id
			m.vote(Precommit, id)
			m.step = StepPrecommit
		}
		m.validRound, m.validHash, m.dirty = int32(r), id, true
		return true
	}
	// Lines 44-46.
	if m.step == StepPrevote && m.votes.count(r, Prevote, Hash{}) >= q {
		m.vote(Precommit, Hash{})
		m.step, m.dirty = StepPrecommit, true
		return true
	}
	return false
}

// skipToHigherRound is lines 55-56: f+1 validators in a higher round
// pull us there.
func (m *Machine) skipToHigherRound() bool {
	r := m.round
	var skip uint32
	for _, rr := range m.votes.roundNumbers() {
		if rr > r && m.votes.senders(rr) >= m.cfg.Vals.Weak() {
			skip = rr
		}
	}
	if skip > r {
		m.startRound(skip)
		return true
	}
	return false
}

// Messages returns every proposal and vote the machine holds for its
// height, in a fixed order: what a peer that missed some asks for. Gossip
// does not resend lost messages; this pull is how, after the network
// heals, every validator eventually sees every message (the paper's
// assumption of eventual delivery after GST).
func (m *Machine) Messages() []*Message {
	if !m.started {
		return nil
	}
	var out []*Message
	for _, r := range m.votes.roundNumbers() {
		if p, ok := m.proposals[r]; ok {
			out = append(out, &Message{Proposal: p})
		}
		for _, t := range []VoteType{Prevote, Precommit} {
			vs := m.votes.votes(r, t)
			idx := make([]int, 0, len(vs))
			for i := range vs {
				idx = append(idx, int(i))
			}
			slices.Sort(idx)
			for _, i := range idx {
				for _, v := range vs[uint16(i)] {
					out = append(out, &Message{Vote: v})
				}
			}
		}
	}
	return out
}
