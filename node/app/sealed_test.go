package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/ballot/seal"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

// sealedFixture is a chain of one validator with a second node that
// validates and applies every block on its own ledger, and a sealed
// ballot among 5 keykeepers, 3 of whom recover its key.
type sealedFixture struct {
	*appFixture
	other *App
}

func newSealedFixture(t *testing.T) *sealedFixture { return newSealedFixtureIn(t, "") }

// newSealedFixtureIn is newSealedFixture with the validator's ledger in dir.
func newSealedFixtureIn(t *testing.T, dir string) *sealedFixture {
	f := newAppFixture(t, dir)
	opens := f.g.GenesisTime.Add(10 * time.Minute).UnixMilli()
	f.e = ballottest.NewElection(ballottest.Options{Genesis: f.g, Revote: true, Seed: 16, Keykeepers: 5, Threshold: 3,
		Opens: opens, Closes: opens + 10*60_000})
	l, err := store.Open(t.TempDir(), f.g.Hash(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	other, err := New(Config{Genesis: f.g, Ledger: l, MempoolTxs: 1000, MempoolBytes: 1 << 20, Metrics: NewMetrics(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	return &sealedFixture{appFixture: f, other: other}
}

// commit makes the next block on the validator and has the other node
// validate and apply it too.
func (f *sealedFixture) commit(t *testing.T) *consensus.Block {
	t.Helper()
	b := f.commitNext(t)
	if err := f.other.ApplyBlock(context.Background(), b, ballottest.Commit(f.g.Chain(), f.keys, &b.Header, 0)); err != nil {
		t.Fatalf("the other node refuses block %d: %v", b.Header.Height, err)
	}
	return b
}

func (f *sealedFixture) keyring(t *testing.T, a *App) *ballot.Keyring {
	t.Helper()
	k, found, err := a.State().Keyring(f.e.Ballot.ID)
	if err != nil || !found {
		t.Fatalf("keyring: found %v, %v", found, err)
	}
	return k
}

func (f *sealedFixture) share(t *testing.T, j int) *ballot.KeyShare {
	t.Helper()
	s, err := f.keyring(t, f.app).NewShare(f.g.Chain(), f.e.Ballot, j, f.e.Keykeepers[j].EncPriv, f.e.Keykeepers[j].Sign)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dealAll has the five keykeepers deal before the ballot opens, keykeeper
// 4 with a share for keykeeper 0 that does not decrypt: keykeeper 0 finds
// it and complains, and deal 4 is disqualified.
func (f *sealedFixture) dealAll(t *testing.T) {
	t.Helper()
	if err := f.submit(t, &ballot.Tx{Definition: f.e.Def}); err != nil {
		t.Fatal(err)
	}
	f.commit(t)
	for i := range 5 {
		d := f.e.Deal(i)
		if i == 4 {
			d.Shares[0][len(d.Shares[0])-1] ^= 1
			d.Sign(f.g.Chain(), f.e.Keykeepers[4].Sign)
		}
		if err := f.submit(t, &ballot.Tx{Deal: d}); err != nil {
			t.Fatalf("deal %d: %v", i, err)
		}
	}
	f.commit(t)
	bad, err := f.keyring(t, f.app).BadDeals(f.g.Chain(), f.e.Ballot, 0, f.e.Keykeepers[0].EncPriv)
	if err != nil || !slices.Equal(bad, []uint8{4}) {
		t.Fatalf("keykeeper 0 finds bad deals %v (%v), want [4]", bad, err)
	}
	c := &ballot.Complaint{BallotID: f.e.Ballot.ID, Keykeeper: 0, Against: 4}
	c.Sign(f.g.Chain(), f.e.Keykeepers[0].Sign)
	if err := f.submit(t, &ballot.Tx{Complaint: c}); err != nil {
		t.Fatal(err)
	}
	f.commit(t)
	if q := f.keyring(t, f.app).Qualified(); !slices.Equal(q, []int{0, 1, 2, 3}) {
		t.Fatalf("qualified dealers %v, want [0 1 2 3]", q)
	}
}

func TestSealedBallotThreeOfFiveCountsOnlyOnceThreeValidSharesAreFinal(t *testing.T) {
	f := newSealedFixture(t)
	f.dealAll(t)
	f.now = time.UnixMilli(f.e.Def.Opens)
	key, err := f.keyring(t, f.app).ElectionKey(f.g.Chain(), f.e.Ballot)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := f.keyring(t, f.other).ElectionKey(f.g.Chain(), f.e.Ballot)
	if !slices.Equal(key, otherKey) {
		t.Fatal("the two nodes compute different election keys from the same chain")
	}
	if err := f.submit(t, &ballot.Tx{Deal: f.e.Deal(4)}); !errors.Is(err, ballot.ErrKeygenClosed) && !errors.Is(err, ballot.ErrKeykeeperRepeat) {
		t.Fatalf("a deal after opening: %v, want keygen_closed", err)
	}

	choices := []uint32{0, 1, 1, 2, 1, 0}
	voters := make([]*ballottest.Voter, len(choices))
	var casts []*ballot.Cast
	for i, ch := range choices {
		voters[i] = f.e.NewVoter()
		c := f.e.SealedCast(voters[i], 1, ch, key)
		casts = append(casts, c)
		if err := f.submit(t, &ballot.Tx{Cast: c}); err != nil {
			t.Fatalf("sealed cast %d: %v", i, err)
		}
	}
	f.commit(t)
	// Voter 5 changes its mind: 0 then 2; its latest cast counts.
	f.now = f.now.Add(time.Duration(f.g.App.RevoteIntervalMs) * time.Millisecond)
	if err := f.submit(t, &ballot.Tx{Cast: f.e.SealedCast(voters[5], 2, 2, key)}); err != nil {
		t.Fatal(err)
	}
	choices[5] = 2
	f.commit(t)

	res, _, _ := f.app.State().Results(f.e.Ballot.ID)
	if !res.Sealed || res.Counts != nil || res.Turnout != 6 || res.Casts != 7 {
		t.Fatalf("results of an open sealed ballot %+v, want sealed with turnout 6 of 7 casts and no counts", res)
	}

	f.now = time.UnixMilli(f.e.Def.Closes)
	f.commit(t) // a block past closing
	bad := f.share(t, 0)
	bad.Value = f.share(t, 1).Value
	bad.Sign(f.g.Chain(), f.e.Keykeepers[0].Sign)
	err = f.submit(t, &ballot.Tx{Share: bad})
	if !errors.Is(err, ballot.ErrShareInvalid) || !strings.Contains(err.Error(), "keykeeper 0 (keykeeper 0)") {
		t.Fatalf("a wrong share: %v, want share_invalid naming keykeeper 0", err)
	}
	for _, j := range []int{0, 1} {
		if err := f.submit(t, &ballot.Tx{Share: f.share(t, j)}); err != nil {
			t.Fatalf("share %d: %v", j, err)
		}
	}
	f.commit(t)
	for _, a := range []*App{f.app, f.other} {
		res, _, _ := a.State().Results(f.e.Ballot.ID)
		if !res.Sealed || res.Counts != nil {
			t.Fatalf("results after 2 of 3 shares %+v: a count before the threshold", res)
		}
	}
	// Two shares do not make the key, whatever one does with them.
	k := f.keyring(t, f.app)
	joint, err := k.Joint(f.g.Chain(), f.e.Ballot)
	if err != nil {
		t.Fatal(err)
	}
	two := map[int][]byte{1: k.Shares[0].Value, 2: k.Shares[1].Value}
	if _, _, err := joint.Recover(two); err == nil {
		t.Fatal("the election secret recovered from 2 shares of 3")
	}
	if _, _, err := joint[:2].Recover(two); !errors.Is(err, seal.ErrShare) {
		t.Fatalf("interpolating 2 shares as if the threshold were 2: %v, want a secret that is not the election key's", err)
	}

	// Keykeepers 3 and 4 never show up: keykeeper 2's share is the third.
	if err := f.submit(t, &ballot.Tx{Share: f.share(t, 2)}); err != nil {
		t.Fatal(err)
	}
	counted := f.commit(t)
	want := make([]uint64, 3)
	for _, c := range choices {
		want[c]++
	}
	for _, a := range []*App{f.app, f.other} {
		res, _, _ := a.State().Results(f.e.Ballot.ID)
		if res.Sealed || !slices.Equal(res.Counts, want) || res.Invalid != 0 || res.Voters() != 6 {
			t.Fatalf("results after the count %+v, want counts %v", res, want)
		}
	}
	if err := f.submit(t, &ballot.Tx{Share: f.share(t, 3)}); !errors.Is(err, ballot.ErrKeykeeperRepeat) {
		t.Fatalf("a share after the count: %v, want keykeeper_repeat", err)
	}
	next := f.commit(t)
	if next.Header.AppHash != f.other.State().AppHash() || next.Header.AppHash == counted.Header.AppHash {
		t.Fatal("the count is not in the app hash of the next header")
	}
	// After the count, anyone holding a cast learns what it said.
	if got, err := f.keyring(t, f.other).OpenCast(f.g.Chain(), casts[2]); err != nil || got != 1 {
		t.Fatalf("opening cast 2 after the count: %d, %v, want 1", got, err)
	}
}

func TestSealedCastCopiedIntoAnotherVotersCastIsRefused(t *testing.T) {
	f := newSealedFixture(t)
	f.dealAll(t)
	f.now = time.UnixMilli(f.e.Def.Opens)
	key, _ := f.keyring(t, f.app).ElectionKey(f.g.Chain(), f.e.Ballot)
	alice, mallory := f.e.NewVoter(), f.e.NewVoter()
	orig := f.e.SealedCast(alice, 1, 1, key)
	if err := f.submit(t, &ballot.Tx{Cast: orig}); err != nil {
		t.Fatal(err)
	}
	copied := f.e.SealedCast(mallory, 1, 0, key)
	copied.Sealed = orig.Sealed
	copied.Sign(f.g.Chain(), mallory.Key)
	if err := f.submit(t, &ballot.Tx{Cast: copied}); !errors.Is(err, ballot.ErrSealedInvalid) {
		t.Fatalf("alice's sealed choice in mallory's cast: %v, want sealed_invalid", err)
	}
	// The proof binds the seq too: a sealed choice moved to another cast
	// of the same voter is refused as well.
	moved := f.e.SealedCast(alice, 2, 1, key)
	moved.Seq = 3
	moved.Sign(f.g.Chain(), alice.Key)
	tx := &ballot.Tx{Cast: moved}
	if _, err := ballot.Check(f.app.Rules(), tx, tx.Encode(), f.app.State()); !errors.Is(err, ballot.ErrSealedInvalid) {
		t.Fatalf("a sealed choice moved to another seq: %v, want sealed_invalid", err)
	}
}

func TestSealedBallotWithFewerThanThresholdDealsRefusesCasts(t *testing.T) {
	f := newSealedFixture(t)
	if err := f.submit(t, &ballot.Tx{Definition: f.e.Def}); err != nil {
		t.Fatal(err)
	}
	f.commit(t)
	for i := range 2 {
		if err := f.submit(t, &ballot.Tx{Deal: f.e.Deal(i)}); err != nil {
			t.Fatal(err)
		}
	}
	f.commit(t)
	f.now = time.UnixMilli(f.e.Def.Opens)
	if _, err := f.keyring(t, f.app).ElectionKey(f.g.Chain(), f.e.Ballot); !errors.Is(err, ballot.ErrSealedNoKey) {
		t.Fatalf("election key from 2 deals of 3: %v", err)
	}
	// A cast sealed to some key is refused: the ballot has none.
	_, pub := mustKeyPair(t)
	v := f.e.NewVoter()
	if err := f.submit(t, &ballot.Tx{Cast: f.e.SealedCast(v, 1, 0, pub)}); !errors.Is(err, ballot.ErrSealedNoKey) {
		t.Fatalf("a cast in a sealed ballot without key: %v, want sealed_no_key", err)
	}
}

func mustKeyPair(t *testing.T) (priv, pub []byte) {
	pub, priv, err := seal.NewKeyPair(ballottest.Seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func TestRecountOfASealedBallotReverifiesTheKeyGenerationTheSharesAndTheCount(t *testing.T) {
	f := newSealedFixture(t)
	f.dealAll(t)
	f.now = time.UnixMilli(f.e.Def.Opens)
	key, _ := f.keyring(t, f.app).ElectionKey(f.g.Chain(), f.e.Ballot)
	for i, ch := range []uint32{2, 2, 0, 1} {
		if err := f.submit(t, &ballot.Tx{Cast: f.e.SealedCast(f.e.NewVoter(), 1, ch, key)}); err != nil {
			t.Fatalf("cast %d: %v", i, err)
		}
	}
	f.commit(t)
	f.now = time.UnixMilli(f.e.Def.Closes)
	f.commit(t)
	for _, j := range []int{4, 1, 3} { // keykeeper 4, disqualified as a dealer, still holds a share
		if err := f.submit(t, &ballot.Tx{Share: f.share(t, j)}); err != nil {
			t.Fatalf("share %d: %v", j, err)
		}
	}
	f.commit(t)
	f.commit(t)
	rep, err := Recount(context.Background(), f.ledger, f.g, f.e.Ballot.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Agree || !slices.Equal(rep.Counts, []uint64{1, 1, 2}) || rep.AppHashes != rep.Blocks {
		t.Fatalf("recount %+v, want agreement on [1 1 2] and every app hash", rep)
	}
}

// A node restarted in the middle of a sealed ballot reads its keyring and
// its sealed results back from the ledger, and counts it later.
func TestSealedBallotStateSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	f := newSealedFixtureIn(t, dir)
	f.dealAll(t)
	f.now = time.UnixMilli(f.e.Def.Opens)
	key, _ := f.keyring(t, f.app).ElectionKey(f.g.Chain(), f.e.Ballot)
	if err := f.submit(t, &ballot.Tx{Cast: f.e.SealedCast(f.e.NewVoter(), 1, 2, key)}); err != nil {
		t.Fatal(err)
	}
	f.commit(t)
	before := f.app.State().AppHash()
	f.ledger.Close()
	l, err := store.Open(dir, f.g.Hash(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f.ledger = l
	if f.app, err = New(Config{Genesis: f.g, Ledger: l, MempoolTxs: 10, MempoolBytes: 1 << 20, Metrics: NewMetrics(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: func() time.Time { return f.now }}); err != nil {
		t.Fatal(err)
	}
	if f.app.State().AppHash() != before {
		t.Fatal("the app hash changed across the restart")
	}
	if again, _ := f.keyring(t, f.app).ElectionKey(f.g.Chain(), f.e.Ballot); !slices.Equal(again, key) {
		t.Fatal("the election key changed across the restart")
	}
	f.now = time.UnixMilli(f.e.Def.Closes)
	for _, j := range []int{0, 1, 2} {
		if err := f.submit(t, &ballot.Tx{Share: f.share(t, j)}); err != nil {
			t.Fatalf("share %d: %v", j, err)
		}
	}
	f.commit(t)
	if res, _, _ := f.app.State().Results(f.e.Ballot.ID); !slices.Equal(res.Counts, []uint64{0, 0, 1}) {
		t.Fatalf("counts %v after the restart, want [0 0 1]", res.Counts)
	}
}

// A complaint is resolved in the open: the accused dealer answers with the
// share in clear, anybody checks it against its commitments, and an
// honest dealer stays qualified whatever a keykeeper claims; a dealer who
// cannot answer correctly is disqualified. The complainer's share then
// uses the answered value, and the count is right.
func TestFalseComplaintIsAnsweredAndTheDealStaysQualified(t *testing.T) {
	f := newSealedFixture(t)
	chain, b := f.g.Chain(), f.e.Ballot
	if err := f.submit(t, &ballot.Tx{Definition: f.e.Def}); err != nil {
		t.Fatal(err)
	}
	f.commit(t)
	stream := func(i int) *mrand.ChaCha8 { return ballottest.Seeded(uint64(100 + i)) }
	deals := make([]*ballot.Deal, 5)
	for i := range deals {
		d, err := ballot.NewDeal(stream(i), chain, b, i, f.e.Keykeepers[i].Sign)
		if err != nil {
			t.Fatal(err)
		}
		deals[i] = d
		if err := f.submit(t, &ballot.Tx{Deal: d}); err != nil {
			t.Fatal(err)
		}
	}
	f.commit(t)
	complain := func(from, against int) {
		c := &ballot.Complaint{BallotID: b.ID, Keykeeper: uint8(from), Against: uint8(against)}
		c.Sign(chain, f.e.Keykeepers[from].Sign)
		if err := f.submit(t, &ballot.Tx{Complaint: c}); err != nil {
			t.Fatal(err)
		}
	}
	complain(1, 2) // false: deal 2 is honest
	complain(3, 4) // dealer 4 will not answer right
	f.commit(t)
	if q := f.keyring(t, f.app).Qualified(); !slices.Equal(q, []int{0, 1, 3}) {
		t.Fatalf("qualified before the answers %v, want [0 1 3]", q)
	}
	answer, err := ballot.NewAnswer(stream(2), chain, b, deals[2], 1, f.e.Keykeepers[2].Sign)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.submit(t, &ballot.Tx{Answer: answer}); err != nil {
		t.Fatal(err)
	}
	wrong, _ := ballot.NewAnswer(stream(4), chain, b, deals[4], 3, f.e.Keykeepers[4].Sign)
	wrong.Value = answer.Value
	wrong.Sign(chain, f.e.Keykeepers[4].Sign)
	if err := f.submit(t, &ballot.Tx{Answer: wrong}); !errors.Is(err, ballot.ErrShareInvalid) || !strings.Contains(err.Error(), "keykeeper 4") {
		t.Fatalf("a wrong answer: %v, want share_invalid naming keykeeper 4", err)
	}
	if _, err := ballot.NewAnswer(stream(9), chain, b, deals[4], 3, f.e.Keykeepers[4].Sign); !errors.Is(err, ballot.ErrDealInvalid) {
		t.Fatalf("an answer replayed from another stream: %v, want deal_invalid", err)
	}
	f.commit(t)
	if q := f.keyring(t, f.other).Qualified(); !slices.Equal(q, []int{0, 1, 2, 3}) {
		t.Fatalf("qualified after the answers %v, want [0 1 2 3]", q)
	}

	f.now = time.UnixMilli(f.e.Def.Opens)
	key, _ := f.keyring(t, f.app).ElectionKey(chain, b)
	choices := []uint32{2, 0, 2}
	for _, ch := range choices {
		if err := f.submit(t, &ballot.Tx{Cast: f.e.SealedCast(f.e.NewVoter(), 1, ch, key)}); err != nil {
			t.Fatal(err)
		}
	}
	f.commit(t)
	f.now = time.UnixMilli(f.e.Def.Closes)
	f.commit(t)
	for _, j := range []int{1, 2, 3} { // keykeeper 1's share takes deal 2's answered value
		if err := f.submit(t, &ballot.Tx{Share: f.share(t, j)}); err != nil {
			t.Fatalf("share %d: %v", j, err)
		}
	}
	f.commit(t)
	if res, _, _ := f.other.State().Results(b.ID); !slices.Equal(res.Counts, []uint64{1, 0, 2}) {
		t.Fatalf("counts %v, want [1 0 2]", res.Counts)
	}
}

// A definition or a keykeeper's message sent again once final is refused
// before its signatures are checked (Prescreen), with the answer its
// stateful check gave after them: each is public, and its checks cost
// more than a cast's (a deal's commitments). A deal of a keykeeper who
// dealt, with a forged signature, is refused so too: its signature is
// never looked at. A share not final yet goes on to its signature.
func TestFinalDefinitionsAndKeykeeperMessagesSentAgainAreRefusedBeforeTheirSignatures(t *testing.T) {
	f := newSealedFixture(t)
	f.dealAll(t)
	c := &ballot.Complaint{BallotID: f.e.Ballot.ID, Keykeeper: 0, Against: 4}
	c.Sign(f.g.Chain(), f.e.Keykeepers[0].Sign)
	forged := f.e.Deal(1)
	forged.Signature[0] ^= 1
	again := func(name string, tx *ballot.Tx, want error) {
		t.Helper()
		if err := f.app.Prescreen(tx.Encode()); !errors.Is(err, want) {
			t.Fatalf("%s sent again, before its signatures: %v, want %v", name, err, want)
		}
		if err := f.submit(t, tx); !errors.Is(err, want) {
			t.Fatalf("%s sent again: %v, want %v", name, err, want)
		}
	}
	again("the definition", &ballot.Tx{Definition: f.e.Def}, ballot.ErrDuplicateBallot)
	again("the complaint", &ballot.Tx{Complaint: c}, ballot.ErrKeykeeperRepeat)
	again("a forged deal of a keykeeper who dealt", &ballot.Tx{Deal: forged}, ballot.ErrKeykeeperRepeat)

	f.now = time.UnixMilli(f.e.Def.Closes)
	f.commit(t) // a block past closing
	share := &ballot.Tx{Share: f.share(t, 0)}
	if err := f.submit(t, share); err != nil {
		t.Fatal(err)
	}
	f.commit(t)
	again("a final share", share, ballot.ErrKeykeeperRepeat)
	next := &ballot.Tx{Share: f.share(t, 1)}
	next.Share.Signature[0] ^= 1
	if err := f.app.Prescreen(next.Encode()); err != nil {
		t.Fatalf("a share not final, before its signature: %v, want it to go on to its signature", err)
	}
	if err := f.submit(t, next); !errors.Is(err, ballot.ErrKeykeeperSignature) {
		t.Fatalf("a share with a forged signature: %v", err)
	}
}
