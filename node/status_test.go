package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/p2p"
	"github.com/cocorico/node/store"
)

// TestBallotStatusIsClosedAtTheClosingTimeNotAtTheNextBlock: the API
// judges upcoming, open and closed by the node's clock, so a ballot reads
// "closed" at its closing time though no block has come since; an
// open-tally ballot reads "tallied" once a final block's time is past the
// closing (its counts can no longer change).
func TestBallotStatusIsClosedAtTheClosingTimeNotAtTheNextBlock(t *testing.T) {
	g, keys := ballottest.Validators("status-chain", 4, 5)
	genesis := g.GenesisTime.UnixMilli()
	opens, closes := genesis+60_000, genesis+3_600_000
	e := ballottest.NewElection(ballottest.Options{Genesis: g, Opens: opens, Closes: closes, Seed: 11})
	var mu sync.Mutex
	clock := time.UnixMilli(genesis + 1000)
	setClock := func(ms int64) { mu.Lock(); clock = time.UnixMilli(ms); mu.Unlock() }
	_, key, _ := ed25519.GenerateKey(nil)
	n, err := New(Config{Home: Home(t.TempDir()), Genesis: g, Key: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer n.ledger.Close()
	ctx := context.Background()
	commitAt := func(ms int64) {
		t.Helper()
		h, _, _ := n.app.Tip()
		b, err := n.app.ProposeBlock(ctx, h+1, 0, time.UnixMilli(ms))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.app.ApplyBlock(ctx, b, ballottest.Commit(g.Chain(), keys, &b.Header, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.app.Submit(ctx, e.DefinitionTx().Bytes); err != nil {
		t.Fatal(err)
	}
	commitAt(genesis + 1000) // the last block for a while
	srv := httptest.NewServer(n.api.Handler())
	defer srv.Close()
	status := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			Status string `json:"status"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return v.Status
	}
	check := func(when string, want string) {
		t.Helper()
		for _, path := range []string{"/v1/ballots/" + e.Ballot.ID.String(), "/v1/ballots/" + e.Ballot.ID.String() + "/results"} {
			if got := status(path); got != want {
				t.Fatalf("%s: GET %s says %q, want %q", when, path, got, want)
			}
		}
	}
	check("before opening", api.StatusUpcoming)
	setClock(opens)
	check("at opening, no block since", api.StatusOpen)
	setClock(closes)
	check("at closing, no block since", api.StatusClosed)
	commitAt(closes)
	check("once a final block is at the closing time", api.StatusTallied)
}

// TestStatusSaysFromWhichHeightTheNodeVerifiedEveryCast: a volunteer that
// applied every block from genesis says verified_from 1; one whose ledger
// was restored from the other's state at block 2 (what state sync does,
// without the network) says 3, though it then applies block 3 like any
// node, and attests nothing while so; an attestation of a block in its
// back-fill gap it ignores, as it cannot judge it.
func TestStatusSaysFromWhichHeightTheNodeVerifiedEveryCastAndAJoinerAttestsNothingBeforeItsReverificationNorJudgesItsGap(t *testing.T) {
	g, keys := ballottest.Validators("verified-chain", 4, 13)
	genesis := g.GenesisTime.UnixMilli()
	e := ballottest.NewElection(ballottest.Options{Genesis: g, Opens: genesis, Closes: genesis + 3_600_000, Seed: 13})
	volunteer := func() *Node {
		n, err := New(Config{Home: Home(t.TempDir()), Genesis: g, Key: keyN(100), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Clock: func() time.Time { return g.GenesisTime.Add(time.Second) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.ledger.Close() })
		return n
	}
	full, joined := volunteer(), volunteer()
	ctx := context.Background()
	var blocks []*consensus.Block
	var commits []*consensus.Commit
	next := func() {
		t.Helper()
		h := uint64(len(blocks)) + 1
		b, err := full.app.ProposeBlock(ctx, h, 0, g.GenesisTime.Add(time.Duration(h)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		c := ballottest.Commit(g.Chain(), keys, &b.Header, 0)
		if err := full.applyFollowed(ctx, b, c); err != nil {
			t.Fatal(err)
		}
		blocks, commits = append(blocks, b), append(commits, c)
	}
	if _, err := full.app.Submit(ctx, e.DefinitionTx().Bytes); err != nil {
		t.Fatal(err)
	}
	next()
	next()

	// The joiner takes the state after block 2.
	var state []store.KV
	if err := full.ledger.Scan(nil, func(k, v []byte) error {
		state = append(state, store.KV{Key: bytes.Clone(k), Value: bytes.Clone(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(state) == 0 {
		t.Fatal("block 1's ballot left no state to restore")
	}
	if err := joined.ledger.BeginRestore(); err != nil {
		t.Fatal(err)
	}
	if err := joined.ledger.RestoreWrites(state); err != nil {
		t.Fatal(err)
	}
	if err := joined.ledger.FinishRestore(blocks[1], commits[1], txIDs(blocks[1])); err != nil {
		t.Fatal(err)
	}
	if err := joined.app.Restored(full.app.AppHash()); err != nil {
		t.Fatal(err)
	}
	next()
	if err := joined.applyFollowed(ctx, blocks[2], commits[2]); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name             string
		n                *Node
		base, verifiedAt uint64
	}{{"replayed from genesis", full, 1, 1}, {"restored at block 2", joined, 2, 3}} {
		srv := httptest.NewServer(c.n.api.Handler())
		var st api.StatusView
		getJSON(t, srv.URL+"/v1/status", &st)
		srv.Close()
		if st.Height != 3 || st.LedgerBase != c.base || st.VerifiedFrom != c.verifiedAt {
			t.Errorf("%s: height %d, ledger_base %d, verified_from %d; want 3, %d, %d", c.name, st.Height, st.LedgerBase, st.VerifiedFrom,
				c.base, c.verifiedAt)
		}
	}
	// An attestation of block 3 would vouch for blocks 1 and 2, which the
	// joiner did not verify: it attests nothing before its re-verification;
	// the node that replayed from genesis attested its first block.
	if own := joined.witness.attestations(3, nil, 10); len(own) != 0 {
		t.Errorf("the joiner (verified from 3) attested block 3: %+v", own)
	}
	own := full.witness.attestations(1, nil, 10)
	if len(own) != 1 {
		t.Fatalf("the node that replayed from genesis has %d attestations of block 1, want 1", len(own))
	}
	// That honest attestation of block 1, in the joiner's back-fill gap,
	// reaches the joiner: it cannot judge it (it holds no block 1 yet) and
	// ignores it. A Reject would cost the honest peer that forwarded it its
	// score, and three such get a peer cut off (docs/PROTOCOL.md §20).
	if v := (&peerNetwork{n: joined}).HandleWitness("", &consensus.Witness{Attestation: own[0]}); v != p2p.Ignore {
		t.Errorf("an honest attestation of a block in the joiner's back-fill gap: %v, want Ignore", v)
	}
}
