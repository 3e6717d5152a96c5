package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/node"
	"github.com/cocorico/node/store"
	"github.com/cocorico/node/store/storetest"
)

// startedCluster is 4 validators, the registrar and a ballot with casts
// through validator-3; ctx bounds the test.
func startedCluster(t *testing.T, casts int) (context.Context, *cluster, []*ballot.Receipt) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a network of processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	c := newCluster(t, 4, 0)
	for i := range 4 {
		c.start(c.names[i])
	}
	c.startRegistrar()
	c.createBallot(ctx)
	var receipts []*ballot.Receipt
	for i := range casts {
		r, err := c.vote(ctx, "validator-3", "for")
		if err != nil {
			t.Fatalf("vote %d: %v", i, err)
		}
		receipts = append(receipts, r)
	}
	return ctx, c, receipts
}

// refuses runs `cocorico node` on a home and returns what it said; it
// must exit with an error within 30 s.
func (c *cluster) refuses(name string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary(c.t), "node", "--home", filepath.Join(c.dir, name), "--log-level", "warn").CombinedOutput()
	if ctx.Err() != nil {
		c.t.Fatalf("%s did not refuse to start within 30 s:\n%s", name, tail(string(out), 1500))
	}
	if err == nil {
		c.t.Fatalf("%s started and stopped without error:\n%s", name, tail(string(out), 1500))
	}
	return string(out)
}

// Before: a validator whose last WAL was truncated started at once with a
// warning ("consensus state is ahead of the ledger") and answered
// "unknown" for final casts whose receipts had been handed out.
func TestTruncatedLedgerWALIsRefilledFromPeersBeforeServing(t *testing.T) {
	ctx, c, receipts := startedCluster(t, 24)
	before := c.height("validator-3")
	c.stop("validator-3", syscall.SIGKILL)
	home := node.Home(filepath.Join(c.dir, "validator-3"))
	if _, err := storetest.TruncateNewestLog(home.LedgerDir()); err != nil {
		t.Fatal(err)
	}
	l, err := store.Open(home.LedgerDir(), c.genesis.Hash(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	left := l.Height()
	l.Close()
	if left >= before {
		t.Fatalf("the truncated log lost no final block (%d of %d left): the test proves nothing", left, before)
	}
	t.Logf("truncated WAL: %d of %d final blocks left", left, before)

	c.start("validator-3") // returns once its API answers
	if h := c.height("validator-3"); h < before {
		t.Fatalf("validator-3 serves at height %d, below the %d it had made final", h, before)
	}
	for _, r := range receipts {
		v, err := c.node("validator-3").VerifyReceipt(ctx, r)
		if err != nil || !v.Valid {
			t.Fatalf("receipt %s on the refilled validator: %+v %v", r.CastID, v, err)
		}
	}
	log, _ := os.ReadFile(filepath.Join(c.dir, "validator-3.log"))
	if !strings.Contains(string(log), "fetching them from peers before serving or signing") {
		t.Fatalf("validator-3 did not say it refilled its ledger:\n%s", tail(string(log), 1500))
	}
	if _, err := c.vote(ctx, "validator-3", "against"); err != nil {
		t.Fatalf("vote through the refilled validator: %v", err)
	}
	c.agree(ctx, c.names...)
}

var fencedThrough = regexp.MustCompile(`fenced_through=(\d+)`)

// Before: a validator whose consensus state was deleted started without a
// word and signed a different block at a height it had already signed.
// Now it refuses; with --unsafe-reset-consensus-state it starts, signs
// nothing up to the network's height + 2, then signs again. It fences only
// once it has heard 2 of the 3 other validators: with one up, it waits
// (before, it fenced 10 s after its start on whatever peers it had heard).
func TestUnsafeResetWaitsOutTheNetworksHeightsBeforeSigning(t *testing.T) {
	ctx, c, receipts := startedCluster(t, 6)
	c.stop("validator-3", syscall.SIGKILL)
	// validator-3 may have signed up to one height past what the others
	// had final when it died; the chain then moves on without it.
	mayHaveSigned := c.height("validator-0") + 1
	for range 4 {
		r, err := c.vote(ctx, "validator-0", "against")
		if err != nil {
			t.Fatalf("vote with validator-3 down: %v", err)
		}
		receipts = append(receipts, r)
	}
	home := node.Home(filepath.Join(c.dir, "validator-3"))
	if err := os.RemoveAll(home.ConsensusDir()); err != nil {
		t.Fatal(err)
	}
	said := c.refuses("validator-3")
	if !strings.Contains(said, "consensus state missing") || !strings.Contains(said, "--unsafe-reset-consensus-state") {
		t.Fatalf("the refusal does not say what is wrong and what to do:\n%s", tail(said, 1500))
	}
	t.Logf("validator-3 said: %s", tail(strings.TrimSpace(said), 600))

	// Only validator-0 up: validator-3 hears one other validator, not the
	// two it needs, and does not fence, past its 10 s settle.
	c.stop("validator-1", syscall.SIGTERM)
	c.stop("validator-2", syscall.SIGTERM)
	c.launch("validator-3", "--unsafe-reset-consensus-state")
	waitingLine := "waiting for the other validators' heights before fencing"
	c.eventually("validator-3 says it waits for the other validators", func() bool {
		log, _ := os.ReadFile(filepath.Join(c.dir, "validator-3.log"))
		return strings.Contains(string(log), waitingLine)
	})
	log, _ := os.ReadFile(filepath.Join(c.dir, "validator-3.log"))
	if m := fencedThrough.FindSubmatch(log); m != nil {
		t.Fatalf("validator-3 fenced through %s having heard one other validator of three:\n%s", m[1], tail(string(log), 1500))
	}
	if !strings.Contains(string(log), "heard=1 needed=2") {
		t.Fatalf("validator-3's waiting line does not say it heard 1 validator of the 2 it needs:\n%s", tail(string(log), 1500))
	}
	c.start("validator-1")
	c.start("validator-2")
	c.waitUp(c.apis["validator-3"])
	log, _ = os.ReadFile(filepath.Join(c.dir, "validator-3.log"))
	m := fencedThrough.FindSubmatch(log)
	if m == nil {
		c.eventually("the fence in validator-3's log", func() bool {
			log, _ = os.ReadFile(filepath.Join(c.dir, "validator-3.log"))
			m = fencedThrough.FindSubmatch(log)
			return m != nil
		})
	}
	fence, _ := strconv.ParseUint(string(m[1]), 10, 64)
	if fence <= mayHaveSigned {
		t.Fatalf("fenced through %d, not past the %d validator-3 may have signed", fence, mayHaveSigned)
	}
	t.Logf("validator-3 may have signed up to %d; fenced through %d", mayHaveSigned, fence)
	// Casts through validator-3 until the chain is well past the fence
	// and validator-3's signature is back in a commit.
	idx := uint16(3)
	signedAgain := false
	for i := 0; !signedAgain; i++ {
		if i > 60 {
			t.Fatalf("validator-3 never signed a commit again after the fence at %d", fence)
		}
		r, err := c.vote(ctx, "validator-3", "abstention")
		if err != nil {
			t.Fatalf("vote through the fenced validator: %v", err)
		}
		receipts = append(receipts, r)
		top := c.height("validator-0")
		for h := mayHaveSigned + 1; h <= top; h++ {
			b, err := c.node("validator-0").Block(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range b.Commit.Signatures {
				if s.Validator != idx {
					continue
				}
				if h <= fence && h > mayHaveSigned {
					t.Fatalf("validator-3 signed the commit of block %d, at or below its fence %d", h, fence)
				}
				if h > fence {
					signedAgain = true
				}
			}
		}
	}
	c.agree(ctx, c.names...)
	for _, r := range receipts {
		for _, n := range c.names {
			if v, err := c.node(n).VerifyReceipt(ctx, r); err != nil || !v.Valid {
				t.Fatalf("receipt %s on %s: %+v %v", r.CastID, n, v, err)
			}
		}
	}
}
