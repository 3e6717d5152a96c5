package node

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
	"github.com/cocorico/node/store/storetest"
)

// loneHome is the home of a lone validator (a one-validator genesis) that
// makes a heartbeat block every 20 ms.
type loneHome struct {
	home Home
	g    *consensus.Genesis
	key  ed25519.PrivateKey
}

func newLoneHome(t *testing.T) *loneHome {
	g, keys := ballottest.Validators("startup-chain", 1, 11)
	g.Params.BlockIntervalMs, g.Params.HeartbeatMs = 0, 20
	return &loneHome{home: Home(t.TempDir()), g: g, key: keys[0]}
}

func (h *loneHome) config(unsafe bool) Config {
	return Config{Home: h.home, Genesis: h.g, Key: h.key, UnsafeResetConsensusState: unsafe,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// runUntil runs the lone validator until its ledger reaches height, then
// stops it (the ledger closed as on SIGTERM).
func (h *loneHome) runUntil(t *testing.T, cfg Config, height uint64) {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	finals := make(chan uint64, 64)
	n.app.SubscribeFinal(finals)
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	for n.Height() < height {
		select {
		case <-finals:
		case err := <-done:
			t.Fatalf("node stopped at height %d: %v", n.Height(), err)
		case <-ctx.Done():
			t.Fatalf("height %d not reached", height)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func (h *loneHome) statePath() string { return h.home.consensusStatePath() }

// Before: the node started with a fresh state and signed again at the
// heights it had signed (a fork, issue 11).
func TestValidatorWithoutConsensusStateRefusesToSign(t *testing.T) {
	h := newLoneHome(t)
	h.runUntil(t, h.config(false), 3)
	if err := os.Remove(h.statePath()); err != nil {
		t.Fatal(err)
	}
	_, err := New(h.config(false))
	if !errors.Is(err, ErrConsensusStateMissing) || !strings.Contains(err.Error(), "--unsafe-reset-consensus-state") ||
		!strings.Contains(err.Error(), "signature is in the commit of block") {
		t.Fatalf("start without consensus state: %v, want ErrConsensusStateMissing naming the way out", err)
	}
	// The operator accepts the risk: the validator starts, fenced.
	h.runUntil(t, h.config(true), 5)
}

// Before: a state restored from an old backup was taken as it was.
func TestOlderConsensusStateRefusesToSign(t *testing.T) {
	h := newLoneHome(t)
	h.runUntil(t, h.config(false), 2)
	old, err := os.ReadFile(h.statePath())
	if err != nil {
		t.Fatal(err)
	}
	h.runUntil(t, h.config(false), 6)
	if err := os.WriteFile(h.statePath(), old, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(h.config(false)); !errors.Is(err, ErrConsensusStateOld) {
		t.Fatalf("start with an old consensus state: %v, want ErrConsensusStateOld", err)
	}
}

// Before: the node started with a warning ("consensus state is ahead of
// the ledger"), answered "unknown" for the lost final casts, and a lone
// validator's chain stayed halted.
func TestTruncatedLedgerOfALoneValidatorRefusesToStart(t *testing.T) {
	h := newLoneHome(t)
	h.runUntil(t, h.config(false), 40)
	if _, err := storetest.TruncateNewestLog(h.home.LedgerDir()); err != nil {
		t.Fatal(err)
	}
	l, err := store.Open(h.home.LedgerDir(), h.g.Hash(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lost := l.Height()
	l.Close()
	if lost >= 39 {
		t.Fatalf("the truncated log lost no final block (height %d): the test proves nothing", lost)
	}
	_, err = New(h.config(false))
	if !errors.Is(err, ErrLedgerBehindState) || !strings.Contains(err.Error(), "no peer network") {
		t.Fatalf("start with a ledger behind its state and no peers: %v, want ErrLedgerBehindState", err)
	}
}

// The start-up check's decisions, one per situation (docs/OPERATIONS.md
// §Start-up checks).
func TestStartPlanForEverySituation(t *testing.T) {
	signed := func(h uint64) consensus.HardState { return consensus.HardState{Height: h, SignedHeight: h} }
	for _, c := range []struct {
		name string
		f    startFacts
		want startPlan
		err  error
	}{
		{"volunteer", startFacts{ledger: 9}, startPlan{}, nil},
		{"new validator", startFacts{validator: true}, startPlan{}, nil},
		{"state and ledger agree", startFacts{validator: true, ledger: 9, stateFound: true, state: signed(10), signedAt: 0}, startPlan{checked: 9}, nil},
		{"validator that synced without signing", startFacts{validator: true, ledger: 90, stateFound: true, state: signed(10)}, startPlan{checked: 90}, nil},
		{"state missing", startFacts{validator: true, ledger: 9}, startPlan{}, ErrConsensusStateMissing},
		{"state missing, unsafe reset", startFacts{validator: true, ledger: 9, unsafeReset: true}, startPlan{fence: true, checked: 9}, nil},
		{"state and ledger lost, unsafe reset", startFacts{validator: true, unsafeReset: true}, startPlan{fence: true}, nil},
		{"old state", startFacts{validator: true, ledger: 9, stateFound: true, state: signed(5), signedAt: 8}, startPlan{}, ErrConsensusStateOld},
		{"old state, unsafe reset", startFacts{validator: true, ledger: 9, stateFound: true, state: signed(5), signedAt: 8, unsafeReset: true}, startPlan{fence: true, checked: 9}, nil},
		{"ledger lost blocks, peers", startFacts{validator: true, ledger: 3, stateFound: true, state: signed(10), peers: true}, startPlan{refillTo: 9, catchUp: true, checked: 3}, nil},
		{"ledger lost blocks, no peers", startFacts{validator: true, ledger: 3, stateFound: true, state: signed(10)}, startPlan{}, ErrLedgerBehindState},
		{"ledger lost all, peers", startFacts{validator: true, stateFound: true, state: signed(10), peers: true}, startPlan{refillTo: 9, catchUp: true}, nil},
		// With peers, a validator catches up before it signs (its disk may
		// be an old copy that agrees with itself, or lost, and look new); a
		// lone one, or a fenced one, does not.
		{"state and ledger agree, peers", startFacts{validator: true, ledger: 9, stateFound: true, state: signed(10), peers: true}, startPlan{catchUp: true, checked: 9}, nil},
		{"signed, ledger empty, peers", startFacts{validator: true, stateFound: true, state: signed(1), peers: true}, startPlan{catchUp: true}, nil},
		{"new validator, peers", startFacts{validator: true, peers: true}, startPlan{catchUp: true}, nil},
		{"lone validator, peers", startFacts{validator: true, lone: true, ledger: 9, stateFound: true, state: signed(10), peers: true}, startPlan{checked: 9}, nil},
		{"old state, unsafe reset, peers", startFacts{validator: true, ledger: 9, stateFound: true, state: signed(5), signedAt: 8, unsafeReset: true, peers: true}, startPlan{fence: true, checked: 9}, nil},
		{"volunteer, peers", startFacts{ledger: 9, peers: true}, startPlan{}, nil},
	} {
		got, err := planStart(c.f, "state", "ledger")
		if !errors.Is(err, c.err) || (err == nil && got != c.want) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", c.name, got, err, c.want, c.err)
		}
	}
	if fenceHeight(false, 7, 12) != 14 || fenceHeight(false, 12, 7) != 13 || fenceHeight(false, 12, 11) != 13 || fenceHeight(true, 7, 0) != 7 {
		t.Error("fence height: the ledger's + 1 or the peers' + 2, the higher (a lone validator: its ledger's)")
	}
	for _, peers := range []uint64{math.MaxUint64, math.MaxUint64 - 1} {
		if got := fenceHeight(false, 7, peers); got != math.MaxUint64 {
			t.Errorf("a peer height of %d fenced through %d: the sum wrapped around and fenced nothing", peers, got)
		}
	}
}

// The fenced validator hears enough other validators that one honest
// validator of any quorum (the one that made final the block before the
// highest height it may have signed) is heard: with q = 2n/3+1 and at most
// f = (n-1)/3 faulty, this one among them, the others of a quorum (q-1 of
// the n-1) meet the heard ones in at least f validators, one more than the
// f-1 faulty others; and the others not faulty (n-f) can always answer.
func TestAFencedValidatorHearsOneHonestValidatorOfEveryQuorum(t *testing.T) {
	var vals []consensus.Validator
	for n := 1; n <= 100; n++ {
		seed := make([]byte, ed25519.SeedSize)
		binary.BigEndian.PutUint32(seed, uint32(n))
		vals = append(vals, consensus.Validator{Name: fmt.Sprint(n), PubKey: ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)})
		if n < 2 {
			continue // a lone validator fences without a network
		}
		vs, err := consensus.NewValidatorSet(vals)
		if err != nil {
			t.Fatal(err)
		}
		q, f, need := vs.Quorum(), vs.Weak()-1, fenceWitnessesNeeded(vs)
		if want, ok := map[int]int{2: 1, 3: 1, 4: 2, 7: 4, 10: 6}[n]; ok && need != want {
			t.Errorf("%d validators: %d must be heard, want %d", n, need, want)
		}
		if meet := (q - 1) + need - (n - 1); meet < max(f, 1) {
			t.Errorf("%d validators, %d heard: a quorum's others may meet them in %d, all faulty", n, need, meet)
		}
		if need > n-max(f, 1) {
			t.Errorf("%d validators: %d must be heard, more than the %d others that may be up", n, need, n-max(f, 1))
		}
	}
}

// Before: Pebble started an empty ledger over the tables (height 0), or
// panicked on a bad checksum; now the node refuses, naming what is
// damaged and the way out.
func TestDamagedLedgerRefusesToStartNamingTheWayOut(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(dir string) error
		says   string
	}{
		{"missing MANIFEST", func(dir string) error { _, err := storetest.RemoveManifest(dir); return err }, "no MANIFEST"},
		{"corrupt table", func(dir string) error { _, err := storetest.CorruptTables(dir); return err }, ".sst"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newLoneHome(t)
			h.runUntil(t, h.config(false), 3)
			flushLedger(t, h)
			if err := c.damage(h.home.LedgerDir()); err != nil {
				t.Fatal(err)
			}
			_, err := New(h.config(false))
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), c.says) ||
				!strings.Contains(err.Error(), "Move the ledger folder away") {
				t.Fatalf("start with a damaged ledger: %v", err)
			}
		})
	}
}

// flushLedger moves what the ledger's log holds into table files, as
// time does on a running node.
func flushLedger(t *testing.T, h *loneHome) {
	t.Helper()
	l, err := store.Open(h.home.LedgerDir(), h.g.Hash(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
}
