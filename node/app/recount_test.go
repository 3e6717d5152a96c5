package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

// recountFixture is a chain of a definition block and castBlocks blocks
// of perBlock casts each, every fourth a re-vote of an earlier voter.
func recountFixture(t *testing.T, castBlocks, perBlock int) (*appFixture, int) {
	t.Helper()
	f := newAppFixtureWith(t, "", 0)
	f.defineBallot(t)
	var voters []*ballottest.Voter
	seqs := map[*ballottest.Voter]uint64{}
	casts := 0
	for range castBlocks {
		for i := range perBlock {
			var v *ballottest.Voter
			if i%4 == 3 && len(voters) > 0 {
				v = voters[i%len(voters)]
			} else {
				v = f.e.NewVoter()
				voters = append(voters, v)
			}
			seqs[v]++
			if err := f.submit(t, &ballot.Tx{Cast: f.e.Cast(v, seqs[v], uint32(i%3))}); err != nil {
				t.Fatal(err)
			}
			casts++
		}
		f.commitNext(t)
	}
	return f, casts
}

// The pipelined recount (blocks read, verified as runs across block
// boundaries, applied in order) replays every block of a chain with
// re-votes and agrees with the stored results, every header's app hash
// included; the same with its state in a scratch ledger (--on-disk),
// which is gone after.
func TestRecountOfBlocksVerifiedAcrossBoundariesAgrees(t *testing.T) {
	f, casts := recountFixture(t, 6, 24)
	for _, scratch := range []string{"", filepath.Join(t.TempDir(), "recount")} {
		rep, err := Recount(context.Background(), f.ledger, f.g, f.e.Ballot.ID, scratch, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Agree || rep.Blocks != 7 || rep.AppHashes != 7 || rep.Casts != uint64(casts) || rep.Counts[0]+rep.Counts[1]+rep.Counts[2] == 0 {
			t.Fatalf("scratch %q: recount %+v, want agreement over 7 blocks and %d casts", scratch, rep, casts)
		}
		if _, err := os.Stat(scratch); scratch != "" && !os.IsNotExist(err) {
			t.Fatalf("the scratch ledger is still there: %v", err)
		}
	}
}

// A block whose commit is valid but one of whose casts carries a bad
// voter signature (a ledger written around the app) fails the recount,
// which names the block, and every stage of the pipeline ends.
func TestRecountNamesTheBlockOfABadSignature(t *testing.T) {
	f, _ := recountFixture(t, 3, 8)
	c := f.e.Cast(f.e.NewVoter(), 1, 0)
	c.Signature[0] ^= 1
	bad := (&ballot.Tx{Cast: c}).Encode()
	h, tip, tipTime := f.app.Tip()
	txs := [][]byte{bad}
	b := &consensus.Block{Header: consensus.Header{ChainID: f.g.ChainID, Height: h + 1, Time: tipTime + 1000, PrevHash: tip,
		TxRoot: consensus.MerkleRoot(txs), TxCount: 1, AppHash: f.app.State().AppHash()}, Txs: txs}
	commit := ballottest.Commit(f.g.Chain(), f.keys, &b.Header, 0)
	if err := f.ledger.Commit(b, commit, []consensus.Hash{ballot.TxID(bad)}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := Recount(context.Background(), f.ledger, f.g, f.e.Ballot.ID, "", nil)
	if !errors.Is(err, ballot.ErrVoterSignature) || !strings.Contains(err.Error(), "block 5") {
		t.Fatalf("recount of a ledger with a bad signature in block 5: %v", err)
	}
}

// A recount whose context ends stops with the context's error, its
// stages stopped (goleak checks at the end of the package).
func TestRecountStopsWithItsContext(t *testing.T) {
	f, _ := recountFixture(t, 2, 4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Recount(ctx, f.ledger, f.g, f.e.Ballot.ID, "", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("recount with an ended context: %v", err)
	}
}

// finalBlocks returns blocks 1..top of f's ledger with their commits.
func finalBlocks(t *testing.T, f *appFixture, top uint64) []FinalBlock {
	t.Helper()
	var blocks []FinalBlock
	for h := uint64(1); h <= top; h++ {
		b, err := f.ledger.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.ledger.CommitAt(h)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, FinalBlock{b, c})
	}
	return blocks
}

// A follower whose verify stage (VerifyFetched) runs ahead of its apply
// stage applies the fetched blocks to the same state as the chain's and
// keeps nothing once they are applied; a block with a bad signature is
// refused by VerifyFetched, named by its height, passed on unverified,
// and refused again when it is applied.
func TestFetchedBlocksVerifiedAheadApplyToTheChainsState(t *testing.T) {
	f, _ := recountFixture(t, 4, 12)
	follower := newAppFixtureWith(t, "", 0)
	top := f.ledger.Height()
	ctx := context.Background()
	blocks := finalBlocks(t, f, top)
	// Every block is verified before the first is applied.
	in, out := make(chan FinalBlock, len(blocks)), make(chan FinalBlock, len(blocks))
	for _, fb := range blocks {
		in <- fb
	}
	close(in)
	if err := follower.app.VerifyFetched(ctx, in, out); err != nil {
		t.Fatal(err)
	}
	close(out)
	if _, ok := follower.app.verified(ballot.TxID(blocks[1].Block.Txs[0])); !ok {
		t.Fatal("a transaction of the first block is not kept once verified")
	}
	for fb := range out {
		if err := follower.app.ApplyBlock(ctx, fb.Block, fb.Commit); err != nil {
			t.Fatal(err)
		}
	}
	if follower.app.State().AppHash() != f.app.State().AppHash() || len(follower.app.preverified) != 0 {
		t.Fatalf("follower's app hash %s, the chain's %s; %d verified left",
			follower.app.State().AppHash().Short(), f.app.State().AppHash().Short(), len(follower.app.preverified))
	}

	c := f.e.Cast(f.e.NewVoter(), 1, 0)
	c.Signature[0] ^= 1
	txs := [][]byte{(&ballot.Tx{Cast: c}).Encode()}
	_, tip, tipTime := f.app.Tip()
	bad := &consensus.Block{Header: consensus.Header{ChainID: f.g.ChainID, Height: top + 1, Time: tipTime + 1000, PrevHash: tip,
		TxRoot: consensus.MerkleRoot(txs), TxCount: 1, AppHash: f.app.State().AppHash()}, Txs: txs}
	badFB := FinalBlock{bad, ballottest.Commit(f.g.Chain(), f.keys, &bad.Header, 0)}
	in, out = make(chan FinalBlock, 1), make(chan FinalBlock, 1)
	in <- badFB
	close(in)
	if err := follower.app.VerifyFetched(ctx, in, out); !errors.Is(err, consensus.ErrBlockInvalid) || !strings.Contains(err.Error(), "block 6 tx 0") {
		t.Fatalf("verification of a bad block 6: %v", err)
	}
	if fb := <-out; fb.Block != bad {
		t.Fatal("the refused block was not passed on to be applied and named")
	}
	if err := follower.app.ApplyBlock(ctx, bad, badFB.Commit); !errors.Is(err, consensus.ErrBlockInvalid) {
		t.Fatalf("apply of a bad block 6: %v", err)
	}
	follower.app.ForgetVerified()
	if len(follower.app.preverified) != 0 {
		t.Fatal("ForgetVerified kept transactions")
	}
}

// Reverify replays blocks 1..to and requires the state it reaches to be
// the one header to+1 carries: a header to+1 with a valid commit but
// another app hash fails it (the snapshot a node joined from did not
// follow from the blocks); it needs that header. The same with the
// replayed state in memory and in a scratch ledger, which is gone after.
func TestReverifyReachesTheNextHeadersAppHash(t *testing.T) {
	for _, onDisk := range []bool{false, true} {
		t.Run(fmt.Sprint("scratch ledger ", onDisk), func(t *testing.T) {
			scratch := ""
			if onDisk {
				scratch = filepath.Join(t.TempDir(), "reverify")
				if err := os.MkdirAll(filepath.Join(scratch, "left-by-a-stopped-run"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			testReverifyReachesTheNextHeadersAppHash(t, scratch)
			if _, err := os.Stat(scratch); onDisk && !os.IsNotExist(err) {
				t.Fatalf("the scratch ledger is still there: %v", err)
			}
		})
	}
}

func testReverifyReachesTheNextHeadersAppHash(t *testing.T, scratch string) {
	f, _ := recountFixture(t, 4, 12)
	top := f.ledger.Height()
	ctx := context.Background()
	for to := uint64(1); to < top; to++ {
		if err := Reverify(ctx, f.ledger, f.g, to, scratch); err != nil {
			t.Fatalf("reverify up to %d of %d: %v", to, top, err)
		}
	}
	if err := Reverify(ctx, f.ledger, f.g, top, scratch); err == nil {
		t.Fatalf("reverify up to the tip %d, whose next header is not there: no error", top)
	}
	other := *f.g
	other.ChainID = "another-chain"
	if err := Reverify(ctx, f.ledger, &other, top-1, scratch); err == nil {
		t.Fatal("reverify of blocks whose commits are another chain's: no error")
	}

	// The same blocks, then a block top+1 signed by the validators whose
	// header carries another app hash.
	l, err := store.Open(t.TempDir(), f.g.Hash(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var prev consensus.Hash
	for _, fb := range finalBlocks(t, f, top) {
		ids := make([]consensus.Hash, len(fb.Block.Txs))
		for i, tx := range fb.Block.Txs {
			ids[i] = ballot.TxID(tx)
		}
		if err := l.Commit(fb.Block, fb.Commit, ids, nil); err != nil {
			t.Fatal(err)
		}
		prev = fb.Block.Hash()
	}
	_, _, tipTime := f.app.Tip()
	wrong := f.app.State().AppHash()
	wrong[0] ^= 1
	bad := &consensus.Block{Header: consensus.Header{ChainID: f.g.ChainID, Height: top + 1, Time: tipTime + 1000, PrevHash: prev,
		TxRoot: consensus.MerkleRoot(nil), AppHash: wrong}}
	if err := l.Commit(bad, ballottest.Commit(f.g.Chain(), f.keys, &bad.Header, 0), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := Reverify(ctx, l, f.g, top, scratch); !errors.Is(err, consensus.ErrBlockInvalid) || !strings.Contains(err.Error(), "header says") {
		t.Fatalf("reverify up to %d under a header %d with another app hash: %v, want the app hashes named", top, top+1, err)
	}
	if err := Reverify(ctx, l, f.g, top-1, scratch); err != nil {
		t.Fatalf("reverify up to %d on the copied ledger: %v", top-1, err)
	}
}
