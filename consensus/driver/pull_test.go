package driver

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cocorico/node/consensus"
)

// pullTransport records when the driver pulled.
type pullTransport struct {
	recordTransport
	mu    sync.Mutex
	pulls []time.Time
}

func (p *pullTransport) Pull(uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pulls = append(p.pulls, time.Now())
}

func (p *pullTransport) pulled() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.pulls...)
}

// A validator pulls its height's messages from peers only once no message
// of that height has come for PullEvery: while gossip brings them (here a
// proposal, then two votes 1.5 s apart, too few for a quorum), a pull
// would fetch the proposal's block again from every peer for nothing.
// Once gossip falls silent it pulls. In a synctest bubble: the waits take
// no real time.
func TestDriverPullsOnlyWhenItsHeightsMessagesStopComing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, keys := testGenesis(4)
		proposer := g.ValidatorSet().Proposer(1, 0)
		me, other := (proposer+1)%4, (proposer+2)%4
		tr := &pullTransport{}
		d, err := New(Config{Genesis: g, Key: keys[me], StateDir: t.TempDir(), PullEvery: 2 * time.Second},
			&recordApp{avail: make(chan struct{}), chainID: g.ChainID}, tr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		runDriver(t, d)
		block := &consensus.Block{Header: consensus.Header{ChainID: g.ChainID, Height: 1, Time: start.UnixMilli(),
			TxRoot: consensus.MerkleRoot(nil), Proposer: proposer}}
		prop := &consensus.Proposal{Height: 1, POLRound: -1, Block: *block, Validator: proposer}
		prop.Sign(g.Chain(), keys[proposer])
		vote := func(typ consensus.VoteType) *consensus.Message {
			v := &consensus.Vote{Type: typ, Height: 1, BlockHash: block.Hash(), Validator: other}
			v.Sign(g.Chain(), keys[other])
			return &consensus.Message{Vote: v}
		}
		for i, m := range []*consensus.Message{{Proposal: prop}, vote(consensus.Prevote), vote(consensus.Precommit)} {
			if i > 0 {
				time.Sleep(1500 * time.Millisecond)
			}
			if err := d.Deliver(m); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		lastMessage := time.Now()
		if p := tr.pulled(); len(p) > 0 {
			t.Fatalf("pulled %s after the start while the height's messages kept coming every 1.5 s", p[0].Sub(start))
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		p := tr.pulled()
		if len(p) == 0 {
			t.Fatal("no pull in the 5 s of silence after the last message")
		}
		if p[0].Sub(lastMessage) < 2*time.Second {
			t.Fatalf("pulled %s after the last message, before PullEvery of silence", p[0].Sub(lastMessage))
		}
	})
}
