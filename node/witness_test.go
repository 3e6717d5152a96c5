package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/p2p"
)

func keyN(i int) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	binary.BigEndian.PutUint64(seed, uint64(i)+1)
	seed[31] = 0xa7
	return ed25519.NewKeyFromSeed(seed)
}

func TestWitnessBookKeepsOneAttestationPerNodeAndHeightWithinItsBounds(t *testing.T) {
	g, keys := ballottest.Validators("witness-chain", 4, 3)
	chain := g.Chain()
	w := newWitnessBook(g.ValidatorSet())
	att := func(h uint64, k ed25519.PrivateKey) *consensus.Attestation {
		return consensus.NewAttestation(chain, h, consensus.Hash{byte(h)}, consensus.Hash{}, k)
	}
	if ok, err := w.addAttestation(att(1, keyN(0))); !ok || err != nil {
		t.Fatalf("first: %v %v", ok, err)
	}
	if ok, _ := w.addAttestation(att(1, keyN(0))); ok {
		t.Fatal("a second attestation of one node at one height was kept")
	}
	if _, err := w.addAttestation(att(1, keys[2])); !errors.Is(err, errValidatorAttests) {
		t.Fatalf("a validator's attestation: %v", err)
	}
	for i := 1; i < witnessesPerHeight+10; i++ {
		w.addAttestation(att(1, keyN(i)))
	}
	if got := len(w.attestations(1, nil, 1000)); got != witnessesPerHeight {
		t.Fatalf("%d attestations kept at one height, want the bound %d", got, witnessesPerHeight)
	}
	// Paging in key order reads each once.
	seen, pages := map[string]bool{}, 0
	var after ed25519.PublicKey
	for {
		page := w.attestations(1, after, 10)
		if len(page) == 0 {
			break
		}
		pages++
		for _, a := range page {
			if seen[string(a.Node)] {
				t.Fatal("a page repeats an attestation")
			}
			seen[string(a.Node)] = true
		}
		after = page[len(page)-1].Node
	}
	if len(seen) != witnessesPerHeight || pages != 7 {
		t.Fatalf("paging read %d in %d pages", len(seen), pages)
	}
	// Counting: nodes that attested h or later.
	w2 := newWitnessBook(g.ValidatorSet())
	w2.addAttestation(att(5, keyN(0)))
	w2.addAttestation(att(6, keyN(0)))
	w2.addAttestation(att(7, keyN(1)))
	w2.addAttestation(att(3, keyN(2)))
	if c := w2.count(5); c != 2 {
		t.Fatalf("count(5) = %d, want 2 (node 2 attested only height 3)", c)
	}
	// The book keeps the most recent heights.
	for h := uint64(10); h < 10+witnessHeights+5; h++ {
		w2.addAttestation(att(h, keyN(3)))
	}
	if len(w2.heights) != witnessHeights || w2.heights[0] != 15 {
		t.Fatalf("heights kept: %d from %d", len(w2.heights), w2.heights[0])
	}
	if ok, _ := w2.addAttestation(att(4, keyN(4))); ok {
		t.Fatal("an attestation older than every kept height was kept in a full book")
	}
}

// volunteerNode is an in-process volunteer of g, without network: the
// tests hand it blocks as its follower would.
func volunteerNode(t *testing.T, g *consensus.Genesis) *Node {
	t.Helper()
	n, err := New(Config{Home: Home(t.TempDir()), Genesis: g, Key: keyN(100), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ledger.Close() })
	return n
}

// lyingValidatorSet has the validators (their keys held by the test) sign
// a commit for a block whose app hash was changed: the commit is valid,
// the block is not. The volunteer applied a good block 1 before; the bad
// block 2 is fed to it three times, as its follower would retry.
func lyingValidatorSet(t *testing.T) (n *Node, g *consensus.Genesis, good, bad *consensus.Block) {
	t.Helper()
	g, keys := ballottest.Validators("alarm-chain", 4, 7)
	chain := g.Chain()
	n = volunteerNode(t, g)
	ctx := context.Background()
	good, err := n.app.ProposeBlock(ctx, 1, 0, g.GenesisTime.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.applyFollowed(ctx, good, ballottest.Commit(chain, keys, &good.Header, 0)); err != nil {
		t.Fatal(err)
	}
	if bad, err = n.app.ProposeBlock(ctx, 2, 1, g.GenesisTime.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	bad.Header.AppHash[0] ^= 1
	lie := ballottest.Commit(chain, keys, &bad.Header, 0)
	if err := lie.Verify(chain, g.ValidatorSet(), 2, bad.Hash()); err != nil {
		t.Fatalf("the lying commit must be valid: %v", err)
	}
	for range 3 {
		if err := n.applyFollowed(ctx, bad, lie); !errors.Is(err, consensus.ErrBlockInvalid) {
			t.Fatalf("the bad block: %v", err)
		}
	}
	return n, g, good, bad
}

// TestVolunteerAttestsWhatItVerifiedAndRaisesAnAlarmOnALyingValidatorSet:
// the volunteer refuses the lying validators' block, raises one signed
// alarm, logged, counted, served on the API, and attested the good block
// it applied before.
func TestVolunteerAttestsWhatItVerifiedAndRaisesAnAlarmOnALyingValidatorSet(t *testing.T) {
	n, g, good, bad := lyingValidatorSet(t)
	chain := g.Chain()
	own := n.witness.attestations(1, nil, 10)
	if len(own) != 1 || own[0].BlockHash != good.Hash() || own[0].Verify(chain) != nil {
		t.Fatalf("the volunteer's attestation of block 1: %+v", own)
	}
	alarms := n.witness.alarmList()
	if len(alarms) != 1 || alarms[0].Height != 2 || alarms[0].BlockHash != bad.Hash() || alarms[0].Verify(chain) != nil {
		t.Fatalf("alarms: %+v", alarms)
	}
	if !strings.Contains(alarms[0].Failed, "app hash") {
		t.Fatalf("the alarm says %q", alarms[0].Failed)
	}
	if got := metricValue(t, n, "cocorico_alarms_total"); got != 1 {
		t.Fatalf("cocorico_alarms_total = %v", got)
	}
	if n.ledger.Height() != 1 {
		t.Fatalf("height %d: the bad block was applied", n.ledger.Height())
	}
	srv := httptest.NewServer(n.api.Handler())
	defer srv.Close()
	var av api.AlarmsView
	getJSON(t, srv.URL+"/v1/alarms", &av)
	if len(av.Alarms) != 1 || av.Alarms[0].BlockHash != bad.Hash() || av.Alarms[0].Verify(chain) != nil {
		t.Fatalf("GET /v1/alarms: %+v", av)
	}
	var st api.StatusView
	getJSON(t, srv.URL+"/v1/status", &st)
	if st.Alarms != 1 {
		t.Fatalf("status: %d alarms", st.Alarms)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\ncocorico_alarms_total 1\n") {
		t.Fatal("/metrics does not say cocorico_alarms_total 1")
	}
}

func TestAttestationsFromValidatorsOrOfAnotherBlockAreRejectedAndSpamIgnored(t *testing.T) {
	g, keys := ballottest.Validators("spam-chain", 4, 9)
	chain := g.Chain()
	n := volunteerNode(t, g)
	ctx := context.Background()
	b, err := n.app.ProposeBlock(ctx, 1, 0, g.GenesisTime.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.applyFollowed(ctx, b, ballottest.Commit(chain, keys, &b.Header, 0)); err != nil {
		t.Fatal(err)
	}
	appHash1 := n.app.AppHash()
	nw := &peerNetwork{n: n}
	verdict := func(a *consensus.Attestation) p2p.Verdict {
		return nw.HandleWitness("", &consensus.Witness{Attestation: a})
	}
	b2, err := n.app.ProposeBlock(ctx, 2, 1, g.GenesisTime.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.applyFollowed(ctx, b2, ballottest.Commit(chain, keys, &b2.Header, 0)); err != nil {
		t.Fatal(err)
	}
	if v := verdict(consensus.NewAttestation(chain, 1, b.Hash(), appHash1, keys[0])); v != p2p.Reject {
		t.Fatalf("a validator's attestation: %v", v)
	}
	if v := verdict(consensus.NewAttestation(chain, 1, consensus.Hash{9}, appHash1, keyN(1))); v != p2p.Reject {
		t.Fatalf("an attestation of another block at a final height: %v", v)
	}
	if v := verdict(consensus.NewAttestation(chain, 1, b.Hash(), consensus.Hash{9}, keyN(1))); v != p2p.Reject {
		t.Fatalf("an attestation of an app hash other than the one header 2 carries: %v", v)
	}
	accepted, ignored := 0, 0
	for i := range 3 * witnessesPerHeight {
		switch verdict(consensus.NewAttestation(chain, 1, b.Hash(), appHash1, keyN(i%(2*witnessesPerHeight)))) {
		case p2p.Accept:
			accepted++
		case p2p.Ignore:
			ignored++
		}
	}
	// The volunteer's own attestation takes one place.
	if accepted != witnessesPerHeight-1 || n.witness.count(1) != witnessesPerHeight {
		t.Fatalf("%d accepted, %d ignored, %d kept", accepted, ignored, n.witness.count(1))
	}
}

// metricValue reads a counter's or a gauge's value from the node's registry.
func metricValue(t *testing.T, n *Node, name string) float64 {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if m := mf.GetMetric()[0]; m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			} else {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A peer's alarm of a block final here (this node verified it) is a claim
// anyone can sign: kept once, shown, counted in cocorico_alarm_claims_total
// and not in cocorico_alarms_total (operators' alerts follow that one);
// claims from many keys stop at maxClaims.
func TestAnAlarmFromAPeerIsKeptCountedOnceAndShown(t *testing.T) {
	g, keys := ballottest.Validators("peer-alarm-chain", 4, 5)
	n := volunteerNode(t, g)
	nw := &peerNetwork{n: n}
	b := applyEmptyBlock(t, n, keys, 1)
	al := consensus.NewAlarm(g.Chain(), 1, b.Hash(), "app hash 12ab, recomputed 34cd", keyN(3))
	if v := nw.HandleWitness("", &consensus.Witness{Alarm: al}); v != p2p.Accept {
		t.Fatalf("a peer's alarm: %v", v)
	}
	if v := nw.HandleWitness("", &consensus.Witness{Alarm: al}); v != p2p.Ignore {
		t.Fatalf("the same alarm again: %v", v)
	}
	if got := n.Alarms(); len(got) != 1 || got[0].Failed != al.Failed {
		t.Fatalf("alarms kept: %+v", got)
	}
	if got := metricValue(t, n, "cocorico_alarm_claims_total"); got != 1 {
		t.Fatalf("cocorico_alarm_claims_total = %v", got)
	}
	for k := range maxClaims + 4 {
		nw.HandleWitness("", &consensus.Witness{Alarm: consensus.NewAlarm(g.Chain(), 1, b.Hash(), "made up", keyN(10+k))})
	}
	if got := len(n.Alarms()); got != maxClaims {
		t.Fatalf("%d claims kept from %d keys, bound %d", got, maxClaims+5, maxClaims)
	}
	if got, claims := metricValue(t, n, "cocorico_alarms_total"), metricValue(t, n, "cocorico_alarm_claims_total"); got != 0 || claims != maxClaims {
		t.Fatalf("cocorico_alarms_total = %v, cocorico_alarm_claims_total = %v: claims are counted apart", got, claims)
	}
}

// An alarm names a final block: one of a block that is not the one final
// at its height is a stranger's claim about a block that does not exist
// (Reject: it would fill the alarms kept and put its text on every
// node's pages); one of a height not final here yet is kept aside, not
// shown, and kept once its block is final only if it names that block.
func TestAnAlarmOfABlockThatIsNotTheFinalOneIsRejectedOrDroppedOnceItsHeightIsFinal(t *testing.T) {
	g, keys := ballottest.Validators("fake-alarm-chain", 4, 6)
	n := volunteerNode(t, g)
	nw := &peerNetwork{n: n}
	b1 := applyEmptyBlock(t, n, keys, 1)
	alarm := func(h uint64, block consensus.Hash, k int) *consensus.Witness {
		return &consensus.Witness{Alarm: consensus.NewAlarm(g.Chain(), h, block, "made up", keyN(k))}
	}
	if v := nw.HandleWitness("", alarm(1, consensus.Hash{7}, 1)); v != p2p.Reject {
		t.Fatalf("an alarm of another block at a final height: %v", v)
	}
	if v := nw.HandleWitness("", alarm(1, b1.Hash(), 2)); v != p2p.Accept {
		t.Fatalf("an alarm of the final block: %v", v)
	}
	for k := range maxFutureAlarms {
		if v := nw.HandleWitness("", alarm(2, consensus.Hash{byte(k)}, 10+k)); v != p2p.Accept {
			t.Fatalf("alarm %d of a height not final here yet: %v", k, v)
		}
	}
	if v := nw.HandleWitness("", alarm(2, consensus.Hash{1}, 99)); v != p2p.Ignore {
		t.Fatalf("an alarm ahead with %d kept aside: %v", maxFutureAlarms, v)
	}
	if got := n.Alarms(); len(got) != 1 {
		t.Fatalf("%d alarms shown before their block is final here, want the one of block 1", len(got))
	}
	b2 := applyEmptyBlock(t, n, keys, 2)
	n.settleWitnesses()
	if got := n.Alarms(); len(got) != 1 {
		t.Fatalf("once block 2 is final: %d alarms kept, want 1 (none named it)", len(got))
	}
	if v := nw.HandleWitness("", alarm(2, b2.Hash(), 3)); v != p2p.Accept || len(n.Alarms()) != 2 {
		t.Fatalf("an alarm of block 2 once final: %v, %d kept", v, len(n.Alarms()))
	}
}

// Honest volunteers all refuse the lying quorum's block, so none holds
// it final: a peer's alarm of it counts on a volunteer that refused it
// too; another block's alarm at that height is only kept aside.
func TestAPeersAlarmOfABlockThisVolunteerRefusedTooIsKept(t *testing.T) {
	n, g, _, bad := lyingValidatorSet(t)
	nw := &peerNetwork{n: n}
	peer := &consensus.Witness{Alarm: consensus.NewAlarm(g.Chain(), 2, bad.Hash(), "app hash differs", keyN(5))}
	if v := nw.HandleWitness("", peer); v != p2p.Accept || len(n.Alarms()) != 2 {
		t.Fatalf("a peer's alarm of the block this node refused: %v, %d alarms kept", v, len(n.Alarms()))
	}
	if got := metricValue(t, n, "cocorico_alarms_total"); got != 2 {
		t.Fatalf("cocorico_alarms_total = %v, want this node's own and the peer's that confirms it", got)
	}
	other := &consensus.Witness{Alarm: consensus.NewAlarm(g.Chain(), 2, consensus.Hash{3}, "made up", keyN(6))}
	if v := nw.HandleWitness("", other); v != p2p.Accept || len(n.Alarms()) != 2 {
		t.Fatalf("an alarm of another block at the height this node is stuck below: %v, %d alarms kept (want it kept aside)", v, len(n.Alarms()))
	}
}

// applyEmptyBlock makes an empty block at height h final on the volunteer
// n, through the path a followed block takes.
func applyEmptyBlock(t *testing.T, n *Node, keys []ed25519.PrivateKey, h uint64) *consensus.Block {
	t.Helper()
	ctx := context.Background()
	b, err := n.app.ProposeBlock(ctx, h, 0, n.cfg.Genesis.GenesisTime.Add(time.Duration(h)*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.applyFollowed(ctx, b, ballottest.Commit(n.cfg.Genesis.Chain(), keys, &b.Header, 0)); err != nil {
		t.Fatal(err)
	}
	return b
}

// blockOneAhead makes a volunteer of a new chain and the block 1 it has
// not applied yet, with the validators' commit and the app hash after it
// as another node computed it.
func blockOneAhead(t *testing.T, name string) (n *Node, b *consensus.Block, c *consensus.Commit, after1 consensus.Hash) {
	t.Helper()
	g, keys := ballottest.Validators(name, 4, 13)
	n = volunteerNode(t, g)
	ctx := context.Background()
	b, err := n.app.ProposeBlock(ctx, 1, 0, g.GenesisTime.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c = ballottest.Commit(g.Chain(), keys, &b.Header, 0)
	other := volunteerNode(t, g)
	if err := other.app.ApplyBlock(ctx, b, c); err != nil {
		t.Fatal(err)
	}
	return n, b, c, other.app.AppHash()
}

// An attestation of a block not final here yet is kept aside, not
// counted; once the block is final it joins the book if it names that
// block and the app hash after it, and is dropped otherwise. One of the
// newest block is judged at once against the app hash this node computed
// applying it (the next header, which carries it, is not final yet).
func TestAttestationsAheadOfTheChainCountOnlyOnceTheirBlockIsFinalHere(t *testing.T) {
	n, b, c, after1 := blockOneAhead(t, "ahead-chain")
	chain, ctx, nw := n.cfg.Genesis.Chain(), context.Background(), &peerNetwork{n: n}
	good := consensus.NewAttestation(chain, 1, b.Hash(), after1, keyN(1))
	wrong := consensus.NewAttestation(chain, 1, consensus.Hash{6}, after1, keyN(2))
	wrongState := consensus.NewAttestation(chain, 1, b.Hash(), consensus.Hash{6}, keyN(3))
	for _, a := range []*consensus.Attestation{good, wrong, wrongState} {
		if v := nw.HandleWitness("", &consensus.Witness{Attestation: a}); v != p2p.Accept {
			t.Fatalf("an attestation one block ahead: %v", v)
		}
	}
	if c := n.witness.count(1); c != 0 {
		t.Fatalf("%d attestations counted before their block is final here", c)
	}
	if err := n.app.ApplyBlock(ctx, b, c); err != nil {
		t.Fatal(err)
	}
	n.settleWitnesses()
	got := n.witness.attestations(1, nil, 10)
	if len(got) != 1 || !bytes.Equal(got[0].Node, good.Node) {
		t.Fatalf("kept once block 1 is final: %+v", got)
	}
	// Block 1 is the newest: no header carries the app hash after it yet.
	late := consensus.NewAttestation(chain, 1, b.Hash(), consensus.Hash{7}, keyN(4))
	if v := nw.HandleWitness("", &consensus.Witness{Attestation: late}); v != p2p.Reject {
		t.Fatalf("an attestation of the newest block with another app hash than this node's: %v", v)
	}
	if v := nw.HandleWitness("", &consensus.Witness{Attestation: consensus.NewAttestation(chain, 1, b.Hash(), after1, keyN(5))}); v != p2p.Accept {
		t.Fatalf("an attestation of the newest block with this node's app hash: %v", v)
	}
}

// ApplyBlock commits a block to the ledger before the app's tip moves to
// it. An attestation of that block arriving in between (a volunteer
// nearby applied it a moment earlier) is kept aside, not judged: the next
// header is not final and the app hash after the block not computed yet,
// and its peer, honest, must not be punished for this node's moment (it
// was: Reject, and two such put a peer on the graylist). It counts once
// the tip moves. The test stands in for ApplyBlock's two steps: the
// ledger's Commit first, then the app taking the ledger's height
// (Restored). Nothing waiting for the block is told it is applied before.
func TestAnAttestationOfTheBlockBeingAppliedIsKeptAsideAndCountsOnceTheAppHasIt(t *testing.T) {
	n, b, c, after1 := blockOneAhead(t, "applying-chain")
	chain, ctx, nw := n.cfg.Genesis.Chain(), context.Background(), &peerNetwork{n: n}

	if err := n.ledger.Commit(b, c, nil, nil); err != nil { // ApplyBlock's first step
		t.Fatal(err)
	}
	if h, _, _ := n.app.Tip(); h != 0 || n.ledger.Height() != 1 {
		t.Fatalf("the app's tip at %d and the ledger's at %d, want 0 and 1", h, n.ledger.Height())
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := n.app.WaitApplied(done, 1); err == nil {
		t.Fatal("WaitApplied says block 1 is applied while the app's tip is still at 0")
	}
	a := &consensus.Witness{Attestation: consensus.NewAttestation(chain, 1, b.Hash(), after1, keyN(1))}
	if !nw.WitnessWanted(a) {
		t.Fatal("the attestation of the block being applied is dropped before its signature is checked")
	}
	if v := nw.HandleWitness("", a); v != p2p.Accept {
		t.Fatalf("the attestation of the block being applied: %v, want Accept (kept aside)", v)
	}
	if got := n.witness.count(1); got != 0 {
		t.Fatalf("%d attestations counted before the app has the block", got)
	}

	if err := n.app.Restored(after1); err != nil { // the app's tip moves to the ledger's
		t.Fatal(err)
	}
	if err := n.app.WaitApplied(done, 1); err != nil {
		t.Fatalf("WaitApplied once the app's tip is at 1: %v", err)
	}
	n.settleWitnesses()
	if got := n.witness.count(1); got != 1 {
		t.Fatalf("%d attestations of block 1 counted once the app has it, want 1", got)
	}
}

// A node far behind keeps no announced block beyond a sync answer's worth
// above its height: a volunteer replaying (or joining by state sync) for
// an hour would otherwise hold one block per height in memory.
func TestAnnouncedBlocksFarAboveTheHeightAreNotKeptInMemory(t *testing.T) {
	g, _ := ballottest.Validators("pending-chain", 4, 7)
	n := volunteerNode(t, g)
	nw := newPeerNetwork(n)
	for _, h := range []uint64{1, maxPendingAhead, maxPendingAhead + 1, 100_000} {
		b := &consensus.Block{Header: consensus.Header{ChainID: g.ChainID, Height: h}}
		nw.recent.add(b, 0)
		if v := nw.HandleFinal("", &b.Header, &consensus.Commit{}); v != p2p.Accept {
			t.Fatalf("announcement of %d: verdict %v", h, v)
		}
	}
	if len(nw.pending) != 2 || nw.pending[1].b == nil || nw.pending[maxPendingAhead].b == nil {
		t.Fatalf("pending heights %v, want 1 and %d only", slices.Sorted(maps.Keys(nw.pending)), maxPendingAhead)
	}
}

// The proposals kept for announcements go once their height is final:
// the ledger has them, and an announcement of them is ignored.
func TestRecentProposalsAreDroppedOnceTheirHeightIsFinal(t *testing.T) {
	r := newRecentBlocks(maxRecentBlocks)
	block := func(h uint64) *consensus.Block {
		return &consensus.Block{Header: consensus.Header{ChainID: "c", Height: h}}
	}
	for h := uint64(1); h <= 3; h++ {
		r.add(block(h), 0)
	}
	r.add(block(5), 3)
	for h := uint64(1); h <= 3; h++ {
		if _, ok := r.get(block(h).Hash()); ok {
			t.Fatalf("the proposal of height %d is kept at height 3", h)
		}
	}
	if _, ok := r.get(block(5).Hash()); !ok {
		t.Fatal("the proposal of height 5 is not kept at height 3")
	}
	r.add(block(2), 3)
	if _, ok := r.get(block(2).Hash()); ok {
		t.Fatal("a proposal of a final height was added")
	}
}

// Strangers' alarms filling the book cannot hide this node's own, nor
// the peers' that confirm it: a confirming alarm is refused once
// maxAlarms are kept, a claim (of a block final here) once maxClaims
// claims are, whatever the other kind holds; this node's is kept still.
func TestTheNodesOwnAlarmIsKeptWhenPeersAlarmsFillTheBook(t *testing.T) {
	g, _ := ballottest.Validators("full-alarms-chain", 4, 8)
	w := newWitnessBook(g.ValidatorSet())
	alarm := func(k int) *consensus.Alarm {
		return consensus.NewAlarm(g.Chain(), 1, consensus.Hash{1}, "made up", keyN(k))
	}
	for k := range maxClaims {
		if !w.addAlarm(alarm(k), false, true) {
			t.Fatalf("claim %d refused before the claims are full", k)
		}
	}
	if w.addAlarm(alarm(maxClaims), false, true) {
		t.Fatal("a claim kept beyond maxClaims")
	}
	for k := range maxAlarms {
		if !w.addAlarm(alarm(1000+k), false, false) {
			t.Fatalf("confirming alarm %d refused before the book is full (the claims are)", k)
		}
	}
	if w.addAlarm(alarm(5000), false, false) {
		t.Fatal("a peer's alarm kept beyond the bound")
	}
	if !w.addAlarm(consensus.NewAlarm(g.Chain(), 2, consensus.Hash{2}, "app hash differs", keyN(999)), true, false) {
		t.Fatal("this node's own alarm refused by a book full of peers' alarms")
	}
	if got := len(w.alarmList()); got != maxClaims+maxAlarms+1 {
		t.Fatalf("%d alarms listed", got)
	}
}

// count reads each node's highest attested height instead of every
// attestation: after random attestations over more heights than the book
// keeps (the oldest dropped), it equals the distinct nodes attesting each
// height or later, counted the long way from what the book holds.
func TestAttestationCountEqualsTheDistinctNodesAttestingThatHeightOrLaterAsHeightsAreDropped(t *testing.T) {
	g, _ := ballottest.Validators("count-chain", 4, 9)
	w := newWitnessBook(g.ValidatorSet())
	nodes := make([]ed25519.PublicKey, 80)
	for i := range nodes {
		nodes[i] = keyN(i).Public().(ed25519.PublicKey)
	}
	longWay := func(h uint64) int {
		seen := map[string]bool{}
		for hh, list := range w.byHeight {
			if hh >= h {
				for _, a := range list {
					seen[string(a.Node)] = true
				}
			}
		}
		return len(seen)
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := range 3 * witnessHeights {
		// Mostly rising heights, some late, as gossip brings them.
		h := uint64(i/2 + 1)
		if r.IntN(4) == 0 && h > 30 {
			h -= uint64(r.IntN(30))
		}
		// The nodes attesting change over time: the early ones stop.
		w.addAttestation(&consensus.Attestation{Height: h, Node: nodes[i*40/(3*witnessHeights)+r.IntN(40)]})
		if i%997 == 0 || i == 3*witnessHeights-1 {
			lo := w.heights[0]
			for _, h := range []uint64{0, lo, lo + 1, lo + uint64(r.IntN(len(w.heights))), w.heights[len(w.heights)-1], w.heights[len(w.heights)-1] + 1} {
				if got, want := w.count(h), longWay(h); got != want {
					t.Fatalf("after %d attestations: count(%d) = %d, the long way %d", i+1, h, got, want)
				}
			}
			// What count reads is bounded by what the book holds.
			if len(w.latest) != longWay(0) || len(w.latestAt) > len(w.heights) {
				t.Fatalf("after %d attestations: %d nodes' heights for %d nodes in the book, %d heights counted for %d kept",
					i+1, len(w.latest), longWay(0), len(w.latestAt), len(w.heights))
			}
		}
	}
	if len(w.heights) != witnessHeights {
		t.Fatalf("%d heights kept, want the bound %d (the test must drop some)", len(w.heights), witnessHeights)
	}
}

// The node tells, before a witness's signature is checked, whether it
// could keep it (p2p.WitnessFilter): not a second attestation of one node
// at one height, nor one of a full height (kept or aside), nor an alarm
// once its list is full or a second of one node and block. Whatever it
// says it cannot keep, HandleWitness ignores too: the filter drops nothing
// the node would have taken.
func TestWitnessesTheNodeCannotKeepAreToldBeforeTheirSignatureAndOnlyThose(t *testing.T) {
	g, keys := ballottest.Validators("wanted-chain", 4, 23)
	chain := g.Chain()
	n := volunteerNode(t, g)
	nw := &peerNetwork{n: n}
	b1 := applyEmptyBlock(t, n, keys, 1)
	_, tip, after := n.app.After()
	if tip != b1.Hash() {
		t.Fatal("block 1 is not the app's tip")
	}
	k := 1000
	judge := func(w *consensus.Witness, wantKept bool) {
		t.Helper()
		wanted := nw.WitnessWanted(w)
		if wanted != wantKept {
			t.Fatalf("height %d: wanted %v, want %v", w.Height(), wanted, wantKept)
		}
		v := nw.HandleWitness("", w)
		if !wanted && v != p2p.Ignore {
			t.Fatalf("height %d: a witness the filter drops is %v by HandleWitness, want Ignore", w.Height(), v)
		}
		if wanted && v != p2p.Accept {
			t.Fatalf("height %d: a witness the filter lets through is %v, want Accept", w.Height(), v)
		}
	}
	attest := func(h uint64, block, app consensus.Hash, key ed25519.PrivateKey) *consensus.Witness {
		return &consensus.Witness{Attestation: consensus.NewAttestation(chain, h, block, app, key)}
	}
	alarm := func(h uint64, block consensus.Hash, key ed25519.PrivateKey) *consensus.Witness {
		return &consensus.Witness{Alarm: consensus.NewAlarm(chain, h, block, "made up", key)}
	}
	// Block 1, final here: 64 nodes (this node's own among them), then
	// none more, and no second of one.
	first := keyN(k)
	for range witnessesPerHeight - len(n.witness.attestations(1, nil, witnessesPerHeight)) {
		judge(attest(1, tip, after, keyN(k)), true)
		k++
	}
	judge(attest(1, tip, after, first), false)
	judge(attest(1, tip, after, keyN(k)), false)
	// Height 2, not final here: kept aside, 64 nodes, then none more.
	for range witnessesPerHeight {
		judge(attest(2, consensus.Hash{2}, consensus.Hash{3}, keyN(k)), true)
		k++
	}
	judge(attest(2, consensus.Hash{2}, consensus.Hash{3}, keyN(k)), false)
	// Claims of block 1: 16, then none more, and no second of one.
	claimer := keyN(k)
	for range maxClaims {
		judge(alarm(1, tip, keyN(k)), true)
		k++
	}
	judge(alarm(1, tip, claimer), false)
	judge(alarm(1, tip, keyN(k)), false)
	// Alarms of height 2, kept aside: 64, then none more.
	for i := range maxFutureAlarms {
		judge(alarm(2, consensus.Hash{byte(i)}, keyN(k)), true)
		k++
	}
	judge(alarm(2, consensus.Hash{9}, keyN(k)), false)
}
