package node

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
)

// walletVoter votes from one wallet file, opening it anew for every vote
// as `cocorico vote` does.
type walletVoter struct {
	t      *testing.T
	ctx    context.Context
	info   DevnetInfo
	roll   []registrar.RollEntry
	wallet string
}

func newWalletVoter(t *testing.T, ctx context.Context, info DevnetInfo, wallet string) *walletVoter {
	return &walletVoter{t: t, ctx: ctx, info: info, roll: readRoll(t, info.Voters), wallet: wallet}
}

// sharedWalletOnADevnet starts a one-validator devnet for the test and
// returns voters sharing one wallet file on it.
func sharedWalletOnADevnet(t *testing.T) *walletVoter {
	dir := t.TempDir()
	info, stop := runDevnet(t, dir, 1, 4)
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return newWalletVoter(t, ctx, info, filepath.Join(dir, "shared-wallet.json"))
}

func (v *walletVoter) vote(voter int, code, choice string) (*client.VoteResult, error) {
	v.t.Helper()
	w, err := client.OpenWallet(v.wallet)
	if err != nil {
		v.t.Fatal(err)
	}
	if code == "" {
		code = v.roll[voter].Code
	}
	return client.Vote(v.ctx, client.VoteRequest{Node: client.NewNode(v.info.Nodes[0].API), Registrar: client.NewRegistrar(v.info.Registrar, ""),
		BallotID: v.info.Ballot, VoterID: v.roll[voter].VoterID, Code: code, Choice: choice, Wallet: w,
		Rand: rand.Reader, Poll: 20 * time.Millisecond})
}

func (v *walletVoter) mustVote(voter int, choice string) *client.VoteResult {
	v.t.Helper()
	res, err := v.vote(voter, "", choice)
	if err != nil {
		v.t.Fatalf("%s votes %s: %v", v.roll[voter].VoterID, choice, err)
	}
	return res
}

func (v *walletVoter) status(id consensus.Hash) string {
	v.t.Helper()
	st, err := client.NewNode(v.info.Nodes[0].API).CastStatus(v.ctx, id)
	if err != nil {
		v.t.Fatal(err)
	}
	return st.Status
}

// wantCounts checks the ballot's results on the node.
func (v *walletVoter) wantCounts(want map[string]uint64) {
	v.t.Helper()
	r, err := client.NewNode(v.info.Nodes[0].API).Results(v.ctx, v.info.Ballot)
	if err != nil {
		v.t.Fatal(err)
	}
	for _, c := range r.Choices {
		if c.Count != want[c.Label] {
			v.t.Fatalf("results %+v, want %v", r.Choices, want)
		}
	}
}

// Two people vote from one computer (one wallet file): the second gets a
// token and a key of their own, and both casts are final and counted.
// Before issue 10 item 6, the wallet held one entry per ballot and the
// second voter silently re-voted as the first.
func TestTwoVotersOnOneComputerAreBothCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	v := sharedWalletOnADevnet(t)

	first := v.mustVote(0, "for")
	second := v.mustVote(1, "against")
	if second.Revote || first.Revote {
		t.Fatalf("revote flags %v, %v: each voter's first vote is a first vote", first.Revote, second.Revote)
	}
	if first.Receipt.Cast.Key() == second.Receipt.Cast.Key() {
		t.Fatal("the second voter cast with the first voter's key")
	}
	for _, r := range []*client.VoteResult{first, second} {
		if st := v.status(r.CastID); st != api.CastFinal {
			t.Fatalf("%s's cast %s is %q", r.VoterID, r.CastID, st)
		}
	}
	v.wantCounts(map[string]uint64{"for": 1, "against": 1})
	w, _ := client.OpenWallet(v.wallet)
	if len(w.Entries) != 2 {
		t.Fatalf("the wallet holds %d entries, want one per voter", len(w.Entries))
	}
}

// A voter who re-votes from a shared wallet re-votes with their own key
// (the cast replaces theirs, not the other voter's), and a re-vote under
// their id with another code is refused before anything is sent.
func TestReVoteUsesTheSameVotersKeyOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	v := sharedWalletOnADevnet(t)

	a := v.mustVote(0, "for")
	b := v.mustVote(1, "against")
	again := v.mustVote(0, "abstention")
	if !again.Revote || again.Seq != 2 || again.Replaces != a.CastID {
		t.Fatalf("re-vote: revote %v seq %d replaces %s, want true 2 %s", again.Revote, again.Seq, again.Replaces, a.CastID)
	}
	if again.Receipt.Cast.Key() != a.Receipt.Cast.Key() {
		t.Fatal("the re-vote is not cast with the voter's own key")
	}
	if st := v.status(a.CastID); st != api.CastReplaced {
		t.Fatalf("the voter's first cast is %q, want replaced", st)
	}
	if st := v.status(b.CastID); st != api.CastFinal {
		t.Fatalf("the other voter's cast is %q, want final", st)
	}
	v.wantCounts(map[string]uint64{"against": 1, "abstention": 1})

	if _, err := v.vote(0, "NOT-THE-CODE", "for"); !errors.Is(err, client.ErrWrongVoterCode) {
		t.Fatalf("re-vote in voter 0's name with another code: %v", err)
	}
	v.wantCounts(map[string]uint64{"against": 1, "abstention": 1})
}

// A second devnet has the same chain name ("devnet") and a new genesis:
// the wallet that voted on the first votes on the second without being
// reset, keeps both genesis by hash, and finds each receipt's genesis.
func TestASecondDevnetWithTheSameChainNameNeedsNoWalletReset(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := t.TempDir()
	wallet := filepath.Join(dir, "wallet.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var results []*client.VoteResult
	var genesis []consensus.Hash
	for _, net := range []string{"first", "second"} {
		info, stop := runDevnet(t, filepath.Join(dir, net), 1, 4)
		g, err := ReadGenesis(info.Genesis)
		if err != nil {
			t.Fatal(err)
		}
		if g.ChainID != "devnet" {
			t.Fatalf("chain id %q", g.ChainID)
		}
		res, err := newWalletVoter(t, ctx, info, wallet).vote(0, "", "for")
		stop()
		if err != nil {
			t.Fatalf("vote on the %s devnet with the same wallet: %v", net, err)
		}
		if res.Revote {
			t.Fatalf("the %s devnet's vote is a re-vote", net)
		}
		results, genesis = append(results, res), append(genesis, g.Hash())
	}
	if genesis[0] == genesis[1] {
		t.Fatal("the two devnets share a genesis: the test proves nothing")
	}
	w, err := client.OpenWallet(wallet)
	if err != nil {
		t.Fatal(err)
	}
	for i, res := range results {
		g, err := w.GenesisOf(res.Receipt)
		if err != nil {
			t.Fatal(err)
		}
		if g.Hash() != genesis[i] || !res.Receipt.Verify(g).Valid {
			t.Fatalf("receipt %d: the wallet found genesis %s, want %s", i, g.Hash(), genesis[i])
		}
	}
}
