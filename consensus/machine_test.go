package consensus

import (
	"crypto/ed25519"
	"testing"
)

// cluster drives n machines by hand: the scenario tests deliver exactly
// the messages they want, as in the paper's proofs.
type cluster struct {
	t     testing.TB
	g     *Genesis
	keys  []ed25519.PrivateKey
	m     []*Machine
	out   [][]*Message // messages each machine sent, not delivered yet
	tmo   [][]Timeout
	dec   []*Decision
	props []*ProposalRequest
}

func newCluster(t testing.TB, n int) *cluster {
	g, keys := testChain(n)
	c := &cluster{t: t, g: g, keys: keys, out: make([][]*Message, n), tmo: make([][]Timeout, n), dec: make([]*Decision, n), props: make([]*ProposalRequest, n)}
	for i := range n {
		m, err := NewMachine(MachineConfig{Chain: g.Chain(), Vals: g.ValidatorSet(), Params: g.Params, Key: keys[i], Index: uint16(i)}, HardState{})
		if err != nil {
			t.Fatal(err)
		}
		c.m = append(c.m, m)
	}
	return c
}

func (c *cluster) block(height uint64, tag string) *Block {
	txs := [][]byte{[]byte(tag)}
	return &Block{Header: Header{ChainID: c.g.ChainID, Height: height, TxRoot: MerkleRoot(txs), TxCount: 1}, Txs: txs}
}

// collect drains machine i's Ready into the cluster's buffers.
func (c *cluster) collect(i int) {
	for c.m[i].HasReady() {
		rd := c.m[i].Ready()
		c.out[i] = append(c.out[i], rd.Messages...)
		c.tmo[i] = append(c.tmo[i], rd.Timeouts...)
		if rd.Decision != nil {
			c.dec[i] = rd.Decision
		}
		if rd.Propose != nil {
			c.props[i] = rd.Propose
		}
	}
}

func (c *cluster) startAll(h uint64) {
	for i := range c.m {
		c.m[i].StartHeight(h)
		c.collect(i)
	}
}

// deliver sends every pending message of from to each machine in to.
func (c *cluster) deliver(from int, to ...int) {
	msgs := c.out[from]
	c.out[from] = nil
	for _, m := range msgs {
		for _, j := range to {
			if j == from {
				continue
			}
			if m.Proposal != nil {
				c.m[j].StepProposal(m.Proposal, true, true)
			} else {
				c.m[j].StepVote(m.Vote)
			}
			c.collect(j)
		}
	}
}

// votes returns the votes of type t machine i sent and has not delivered.
func (c *cluster) votes(i int, t VoteType) []*Vote {
	var out []*Vote
	for _, m := range c.out[i] {
		if m.Vote != nil && m.Vote.Type == t {
			out = append(out, m.Vote)
		}
	}
	return out
}

func (c *cluster) fire(i int, s Step) {
	for _, t := range c.tmo[i] {
		if t.Step == s && t.Round == c.m[i].round && t.Height == c.m[i].height {
			c.m[i].Timeout(t)
			c.collect(i)
			return
		}
	}
	c.t.Fatalf("machine %d has no %s timeout for round %d", i, s, c.m[i].round)
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestAllCorrectValidatorsDecideTheProposersBlockInOneRound(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll(1)
	p := int(c.g.ValidatorSet().Proposer(1, 0))
	if c.props[p] == nil {
		t.Fatal("the proposer was not asked for a block")
	}
	c.m[p].ProposalReady(1, 0, c.block(1, "a"))
	c.collect(p)
	for range 3 { // proposal, prevotes, precommits
		for i := range 4 {
			c.deliver(i, all(4)...)
		}
	}
	want := c.block(1, "a").Hash()
	for i, d := range c.dec {
		if d == nil || d.Block.Hash() != want {
			t.Fatalf("validator %d decided %v", i, d)
		}
		if err := d.Commit.Verify(c.g.Chain(), c.g.ValidatorSet(), 1, want); err != nil {
			t.Fatal(err)
		}
	}
}

// Lines 57-60 and 61-64: a proposer that crashed mid-round sends nothing;
// the others time out, prevote nil, precommit nil and move to round 1,
// where the next proposer's block is decided.
func TestProposerCrashMidRoundCostsARoundNotTheHeight(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll(1)
	crashed := int(c.g.ValidatorSet().Proposer(1, 0))
	live := []int{}
	for i := range 4 {
		if i != crashed {
			live = append(live, i)
		}
	}
	for _, i := range live {
		c.fire(i, StepPropose)
		if v := c.votes(i, Prevote); len(v) != 1 || !v[0].BlockHash.IsZero() {
			t.Fatalf("validator %d after the propose timeout: %v", i, v)
		}
	}
	for _, i := range live {
		c.deliver(i, live...)
	}
	for _, i := range live {
		c.fire(i, StepPrevote)
	}
	for _, i := range live {
		c.deliver(i, live...)
	}
	for _, i := range live {
		c.fire(i, StepPrecommit)
		if c.m[i].round != 1 {
			t.Fatalf("validator %d in round %d after the precommit timeout", i, c.m[i].round)
		}
	}
	next := int(c.g.ValidatorSet().Proposer(1, 1))
	c.m[next].ProposalReady(1, 1, c.block(1, "b"))
	c.collect(next)
	for range 3 {
		for _, i := range live {
			c.deliver(i, live...)
		}
	}
	for _, i := range live {
		if c.dec[i] == nil || c.dec[i].Block.Hash() != c.block(1, "b").Hash() {
			t.Fatalf("validator %d decided %v", i, c.dec[i])
		}
	}
}

// Lines 36-43 then 22-27: a validator that locked on v in round 0 must
// not prevote another value proposed in round 1 without a proof of lock.
func TestLockedValidatorDoesNotPrevoteAnotherValue(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll(1)
	p := int(c.g.ValidatorSet().Proposer(1, 0))
	v := c.block(1, "v")
	c.m[p].ProposalReady(1, 0, v)
	c.collect(p)
	c.deliver(p, all(4)...) // the proposal reaches everyone
	// Everyone prevotes v; only validator L sees the prevote quorum and locks.
	L := (p + 2) % 4 // not the proposer of round 1
	for i := range 4 {
		if i != L {
			c.deliver(i, L)
		}
	}
	if c.m[L].lockedHash != v.Hash() {
		t.Fatalf("validator %d did not lock on v", L)
	}
	if pc := c.votes(L, Precommit); len(pc) != 1 || pc[0].BlockHash != v.Hash() {
		t.Fatalf("locked validator precommitted %v", pc)
	}
	// Round 0 ends without a decision; L moves to round 1 by timeouts.
	c.out = make([][]*Message, 4)
	c.m[L].startRound(1)
	c.collect(L)
	other := c.block(1, "other")
	prop := &Proposal{Height: 1, Round: 1, POLRound: -1, Block: *other, Validator: c.g.ValidatorSet().Proposer(1, 1)}
	prop.Sign(c.g.Chain(), c.keys[prop.Validator])
	c.m[L].StepProposal(prop, true, true)
	c.collect(L)
	pv := c.votes(L, Prevote)
	if len(pv) != 1 || !pv[0].BlockHash.IsZero() {
		t.Fatalf("locked validator prevoted %v for another value, want nil", pv)
	}
}

// Line 55: f+1 messages from a higher round pull a validator into it.
func TestRoundChangeWhenFPlusOneValidatorsAreAhead(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll(1)
	for i := 1; i <= 2; i++ { // f+1 = 2 validators prevote in round 3
		v := &Vote{Type: Prevote, Height: 1, Round: 3, Validator: uint16(i)}
		v.Sign(c.g.Chain(), c.keys[i])
		c.m[0].StepVote(v)
	}
	c.collect(0)
	if c.m[0].round != 3 {
		t.Fatalf("validator 0 in round %d, want 3", c.m[0].round)
	}
}

// The catch-up path: a lagging validator given a block and its commit decides it.
func TestLaggingValidatorCatchesUpWithACommit(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll(1)
	b := c.block(1, "x")
	var pcs []*Vote
	for i := range 3 {
		v := &Vote{Type: Precommit, Height: 1, BlockHash: b.Hash(), Validator: uint16(i)}
		v.Sign(c.g.Chain(), c.keys[i])
		pcs = append(pcs, v)
	}
	commit, _ := NewCommit(pcs)
	if !c.m[3].DecideWithCommit(b, commit) {
		t.Fatal("the commit was refused")
	}
	c.collect(3)
	if c.dec[3] == nil || c.dec[3].Block.Hash() != b.Hash() {
		t.Fatal("no decision from the commit")
	}
}

func TestConflictingVotesBecomeEvidence(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll(1)
	a := &Vote{Type: Prevote, Height: 1, BlockHash: Sum([]byte("a")), Validator: 2}
	b := &Vote{Type: Prevote, Height: 1, BlockHash: Sum([]byte("b")), Validator: 2}
	a.Sign(c.g.Chain(), c.keys[2])
	b.Sign(c.g.Chain(), c.keys[2])
	c.m[0].StepVote(a)
	c.m[0].StepVote(b)
	rd := c.m[0].Ready()
	if len(rd.Evidence) != 1 || len(c.m[0].Evidence()) != 1 {
		t.Fatalf("evidence %v", rd.Evidence)
	}
	if err := rd.Evidence[0].Verify(c.g.Chain(), c.g.ValidatorSet()); err != nil {
		t.Fatal(err)
	}
}

// A machine rebuilt from its last hard state re-emits the vote it signed
// and refuses to sign a different one for the same step.
func TestRestartedMachineNeverSignsAConflictingVote(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll(1)
	i := int(c.g.ValidatorSet().Proposer(1, 0)+1) % 4
	v := c.block(1, "v")
	prop := &Proposal{Height: 1, POLRound: -1, Block: *v, Validator: c.g.ValidatorSet().Proposer(1, 0)}
	prop.Sign(c.g.Chain(), c.keys[prop.Validator])
	c.m[i].StepProposal(prop, true, true)
	rd := c.m[i].Ready()
	if rd.HardState == nil || len(rd.Messages) != 1 || rd.Messages[0].Vote.BlockHash != v.Hash() {
		t.Fatalf("no prevote for v: %+v", rd)
	}
	// Crash after persisting, before sending: rebuild from the hard state.
	m, err := NewMachine(MachineConfig{Chain: c.g.Chain(), Vals: c.g.ValidatorSet(), Params: c.g.Params, Key: c.keys[i], Index: uint16(i)}, *rd.HardState)
	if err != nil {
		t.Fatal(err)
	}
	m.StartHeight(1)
	re := m.Ready()
	if len(re.Messages) != 1 || re.Messages[0].Vote.BlockHash != v.Hash() {
		t.Fatalf("restart did not re-send its prevote: %v", re.Messages)
	}
	// A timeout would make a fresh machine prevote nil: this one must not.
	for _, tm := range re.Timeouts {
		if tm.Step == StepPropose {
			m.Timeout(tm)
		}
	}
	for _, msg := range m.Ready().Messages {
		if msg.Vote != nil && msg.Vote.Type == Prevote && msg.Vote.Round == 0 && msg.Vote.BlockHash != v.Hash() {
			t.Fatalf("restarted machine signed a conflicting prevote for %s", msg.Vote.BlockHash.Short())
		}
	}
}

// BenchmarkHeight4Validators: one height's whole message flow through 4
// machines (proposal, 4 prevotes, 4 precommits each delivered to all), no
// network: the consensus overhead per block, signatures included.
func BenchmarkHeight4Validators(b *testing.B) {
	c := newCluster(b, 4)
	blk := c.block(1, "bench")
	h := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		h++
		blk.Header.Height = h
		c.startAll(h)
		p := int(c.g.ValidatorSet().Proposer(h, 0))
		c.m[p].ProposalReady(h, 0, blk)
		c.collect(p)
		for range 3 {
			for i := range 4 {
				c.deliver(i, 0, 1, 2, 3)
			}
		}
		for i := range 4 {
			if c.dec[i] == nil || c.dec[i].Block.Header.Height != h {
				b.Fatalf("height %d: validator %d did not decide", h, i)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/height")
}
