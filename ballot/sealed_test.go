package ballot_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

func dealTx(d *ballot.Deal) *ballot.Checked {
	tx := &ballot.Tx{Deal: d}
	return &ballot.Checked{ID: tx.ID(), Bytes: tx.Encode(), Deal: d}
}

func castTx(c *ballot.Cast) *ballot.Checked {
	tx := &ballot.Tx{Cast: c}
	return &ballot.Checked{ID: tx.ID(), Bytes: tx.Encode(), Cast: c}
}

func answerTx(a *ballot.Answer) *ballot.Checked {
	tx := &ballot.Tx{Answer: a}
	return &ballot.Checked{ID: tx.ID(), Bytes: tx.Encode(), Answer: a}
}

func shareTx(s *ballot.KeyShare) *ballot.Checked {
	tx := &ballot.Tx{Share: s}
	return &ballot.Checked{ID: tx.ID(), Bytes: tx.Encode(), Share: s}
}

type countsSeen struct {
	m          map[consensus.Hash][]uint64
	gets, hits int
}

func (c *countsSeen) Get(k consensus.Hash) ([]uint64, uint64, bool) {
	c.gets++
	v, ok := c.m[k]
	if ok {
		c.hits++
	}
	return v, 0, ok
}

func (c *countsSeen) Put(k consensus.Hash, v []uint64, _ uint64) { c.m[k] = v }

// The same three shares in another block (a round change at the count's
// height) give the count remembered, with no cast decrypted again.
func TestSealedCountIsRememberedAndNotDecryptedAgainForTheSameShares(t *testing.T) {
	e, st, key := sealedElection(t, 80)
	var casts []*ballot.Checked
	for i := range 5 {
		casts = append(casts, castTx(e.SealedCast(e.NewVoter(), 1, uint32(i%2), key)))
	}
	applyBlock(t, st, 3, 2000, casts...)
	k, _, _ := st.Keyring(e.Ballot.ID)
	var shares []*ballot.Checked
	for _, j := range []int{4, 0, 2} {
		s, err := k.NewShare(e.Rules.Chain, e.Ballot, j, e.Keykeepers[j].EncPriv, e.Keykeepers[j].Sign)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, shareTx(s))
	}
	cache := &countsSeen{m: map[consensus.Hash][]uint64{}}
	count := func(time int64, order ...int) (*ballot.Results, int) {
		decrypted := 0
		b := ballot.NewBatch(st, e.Rules, 4, time)
		b.SetCounts(cache)
		b.SetParallel(func(n int, fn func(int)) { decrypted += n; ballot.Sequential(n, fn) })
		for _, i := range order {
			if err := b.Add(shares[i]); err != nil {
				t.Fatal(err)
			}
		}
		u, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return u.Results[e.Ballot.ID], decrypted
	}
	first, n1 := count(1e12, 0, 1, 2)
	again, n2 := count(1e12+1, 2, 0, 1)
	if n1 != 5 || n2 != 0 || cache.hits != 1 {
		t.Fatalf("decrypted %d then %d casts, %d cache hits; want 5, 0, 1", n1, n2, cache.hits)
	}
	if !bytes.Equal(canon.MustMarshal(first), canon.MustMarshal(again)) || first.Counts[0] != 3 || first.Counts[1] != 2 {
		t.Fatalf("counts %v then %v, want [3 2 0] both times", first.Counts, again.Counts)
	}
}

// Before the count, a sealed ballot's results leaf has no counts at all:
// key 2 is absent from its bytes, so the app hash commits to no partial count.
func TestSealedResultsLeafHoldsOnlyCastsAndTurnoutBeforeTheCount(t *testing.T) {
	e, st, key := sealedElection(t, 81)
	v := e.NewVoter()
	applyBlock(t, st, 3, 2000, castTx(e.SealedCast(v, 1, 2, key)))
	applyBlock(t, st, 4, 6000, castTx(e.SealedCast(v, 2, 1, key)))
	res, _, _ := st.Results(e.Ballot.ID)
	want := ballot.Results{BallotID: e.Ballot.ID, Casts: 2, Turnout: 1, Sealed: true}
	if !bytes.Equal(canon.MustMarshal(&res), canon.MustMarshal(&want)) {
		t.Fatalf("results %+v, want %+v", res, want)
	}
}

// Each keykeeper message is refused out of its time, out of its keykeeper,
// or with a broken proof, with the error that says so.
func TestKeykeeperMessagesOutOfPlaceAreRefused(t *testing.T) {
	e, st, _ := sealedElection(t, 82)
	chain := e.Rules.Chain
	stateful := func(tx *ballot.Checked, at int64) error {
		return ballot.NewBatch(st, e.Rules, 3, at).Check(tx)
	}
	stateless := func(tx *ballot.Tx) error {
		_, err := ballot.Check(e.Rules, tx, tx.Encode(), st)
		return err
	}
	d := e.Deal(1)
	forged := *d
	forged.Keykeeper = 2
	badProof := *d
	badProof.ProofR = bytes.Clone(d.ProofR)
	badProof.ProofR[31] ^= 1
	badProof.Sign(chain, e.Keykeepers[1].Sign)
	self := &ballot.Complaint{BallotID: e.Ballot.ID, Keykeeper: 3, Against: 3}
	self.Sign(chain, e.Keykeepers[3].Sign)
	k, _, _ := st.Keyring(e.Ballot.ID)
	share, _ := k.NewShare(chain, e.Ballot, 0, e.Keykeepers[0].EncPriv, e.Keykeepers[0].Sign)
	unasked := &ballot.Answer{BallotID: e.Ballot.ID, Keykeeper: 1, To: 0, Value: share.Value}
	unasked.Sign(chain, e.Keykeepers[1].Sign)
	cases := map[string]struct {
		err  error
		want error
	}{
		"a deal signed by another keykeeper": {stateless(&ballot.Tx{Deal: &forged}), ballot.ErrKeykeeperSignature},
		"a deal whose proof is broken":       {stateless(&ballot.Tx{Deal: &badProof}), ballot.ErrDealInvalid},
		"a complaint against oneself":        {stateless(&ballot.Tx{Complaint: self}), ballot.ErrKeykeeperInvalid},
		"a second deal, before opening":      {stateful(dealTx(d), 1500), ballot.ErrKeykeeperRepeat},
		"a deal at opening":                  {stateful(dealTx(d), e.Def.Opens), ballot.ErrKeygenClosed},
		"a share before closing":             {stateful(shareTx(share), e.Def.Closes-1), ballot.ErrShareTooEarly},
		"a deal at keygen_closes":            {stateful(dealTx(d), e.Def.KeygenCloses), ballot.ErrKeygenClosed},
		"an answer to no complaint":          {stateful(answerTx(unasked), 1500), ballot.ErrKeykeeperInvalid},
		"an answer at opening":               {stateful(answerTx(unasked), e.Def.Opens), ballot.ErrKeygenClosed},
	}
	for name, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", name, c.err, c.want)
		}
	}
	// What a node further ahead may take is marked so: its forwarder is
	// not at fault (an answer gossiped before its complaint is final here).
	stranger := *d
	stranger.BallotID = consensus.Hash{7}
	for name, c := range map[string]struct {
		err   error
		ahead bool
	}{
		"an answer to no complaint":   {cases["an answer to no complaint"].err, true},
		"a deal of an unknown ballot": {stateful(dealTx(&stranger), 1500), true},
		"a complaint against oneself": {cases["a complaint against oneself"].err, false},
	} {
		if !errors.Is(c.err, ballot.ErrKeykeeperInvalid) || errors.Is(c.err, ballot.ErrNotInStateYet) != c.ahead {
			t.Errorf("%s: %v, want keykeeper_invalid, not in state yet: %v", name, c.err, c.ahead)
		}
	}
	if err := stateful(shareTx(share), e.Def.Closes); err != nil {
		t.Fatalf("the same share at closing: %v", err)
	}
}
