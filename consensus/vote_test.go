package consensus

import (
	"errors"
	"testing"

	"github.com/cocorico/node/consensus/canon"
)

func TestSignedVoteVerifiesAndAnyChangeBreaksIt(t *testing.T) {
	g, keys := testChain(4)
	vs := g.ValidatorSet()
	v := precommit(g, keys, 2, 9, 1, Sum([]byte("b")))
	if err := v.Verify(g.Chain(), vs); err != nil {
		t.Fatal(err)
	}
	mutations := map[string]func(*Vote){
		"type":      func(v *Vote) { v.Type = Prevote },
		"height":    func(v *Vote) { v.Height++ },
		"round":     func(v *Vote) { v.Round++ },
		"block":     func(v *Vote) { v.BlockHash[0] ^= 1 },
		"validator": func(v *Vote) { v.Validator = 1 },
		"unknown":   func(v *Vote) { v.Validator = 99 },
		"bad type":  func(v *Vote) { v.Type = 7 },
	}
	for name, m := range mutations {
		w := *v
		m(&w)
		if err := w.Verify(g.Chain(), vs); !errors.Is(err, ErrVoteInvalid) {
			t.Errorf("%s: got %v, want ErrVoteInvalid", name, err)
		}
	}
	if err := v.Verify(Chain{ID: g.ChainID, Genesis: Sum([]byte("a relaunch"))}, vs); err == nil {
		t.Error("vote verified for another chain")
	}
}

func TestProposalMustComeFromTheRoundsProposer(t *testing.T) {
	g, keys := testChain(4)
	vs := g.ValidatorSet()
	b := testBlock(g, 2)
	b.Header.Height = 3
	p := &Proposal{Height: 3, Round: 1, POLRound: -1, Block: *b, Validator: vs.Proposer(3, 1)}
	p.Sign(g.Chain(), keys[p.Validator])
	if err := p.Verify(g.Chain(), vs); err != nil {
		t.Fatal(err)
	}
	q := *p
	q.Validator = (p.Validator + 1) % 4
	q.Sign(g.Chain(), keys[q.Validator])
	if err := q.Verify(g.Chain(), vs); !errors.Is(err, ErrVoteInvalid) {
		t.Fatalf("proposal by a non-proposer: got %v", err)
	}
	r := *p
	r.POLRound = 1 // not below the round
	r.Sign(g.Chain(), keys[r.Validator])
	if err := r.Verify(g.Chain(), vs); !errors.Is(err, ErrVoteInvalid) {
		t.Fatalf("pol round = round: got %v", err)
	}
	s := *p
	s.Block.Txs = testTxs(3) // the signature covers the block hash, not the txs; the header still commits
	if err := s.Verify(g.Chain(), vs); err != nil {
		t.Fatal("proposal signature should cover the header only:", err)
	}
	if err := s.Block.CheckStructure(g.ChainID, g.Params); !errors.Is(err, ErrBlockInvalid) {
		t.Fatal("swapped txs must fail the block's structure check")
	}
}

// PeekHeight reads the height DecodeMessage would, of a proposal (its
// block skipped) or a vote, and refuses what is not one message.
func TestPeekHeightReadsTheHeightOfAProposalOrAVoteAndRefusesTheRest(t *testing.T) {
	g, keys := testChain(4)
	b := testBlock(g, 2)
	b.Header.Height = 7
	b.Txs = testTxs(3)
	p := &Proposal{Height: 7, Round: 1, POLRound: -1, Block: *b, Validator: 1}
	p.Sign(g.Chain(), keys[1])
	for _, m := range []*Message{{Proposal: p}, {Vote: precommit(g, keys, 2, 9, 0, Hash{1})}} {
		data := m.Encode()
		got, ok := PeekHeight(data, 1<<20)
		want, err := DecodeMessage(data, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || got != want.Height() {
			t.Fatalf("peeked height %d (ok %v), want %d", got, ok, want.Height())
		}
	}
	v := precommit(g, keys, 2, 9, 0, Hash{1})
	for name, c := range map[string]struct {
		data []byte
		max  int
	}{
		"both a proposal and a vote": {canon.MustMarshal(&Message{Proposal: p, Vote: v}), 1 << 20},
		"neither":                    {canon.MustMarshal(&Message{}), 1 << 20},
		"not cbor":                   {[]byte("junk"), 1 << 20},
		"over the bound":             {(&Message{Proposal: p}).Encode(), 100},
	} {
		if h, ok := PeekHeight(c.data, c.max); ok {
			t.Fatalf("%s: peeked height %d, want refused", name, h)
		}
	}
}
