package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/driver"
)

// validatorPair is a chain of two validators, so that each one's
// signature is in every commit (q = 2 of 2), making a block every 20 ms.
type validatorPair struct {
	g     *consensus.Genesis
	keys  []ed25519.PrivateKey
	homes []Home
}

func newValidatorPair(t *testing.T) *validatorPair {
	g, keys := ballottest.Validators("restore-pair", 2, 21)
	g.Params.BlockIntervalMs, g.Params.HeartbeatMs = 0, 20
	return &validatorPair{g: g, keys: keys, homes: []Home{Home(t.TempDir()), Home(t.TempDir())}}
}

// run starts both validators, connects them, polls until every 10 ms
// until it says stop or a validator stops, then stops both and returns
// each one's error (a validator's New error included).
func (p *validatorPair) run(t *testing.T, until func(ns []*Node) bool) [2]error {
	t.Helper()
	var errs [2]error
	var ns []*Node
	for i := range 2 {
		n, err := New(Config{Home: p.homes[i], Genesis: p.g, Key: p.keys[i], P2P: P2PConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			errs[i] = err
			for _, n := range ns {
				n.ledger.Close()
			}
			return errs
		}
		ns = append(ns, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := make(chan struct{}, 2)
	for i, n := range ns {
		go func() { errs[i] = n.Run(ctx); done <- struct{}{} }()
	}
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	if err := ns[0].net.host.Connect(cctx, ns[1].P2PAddr()); err != nil {
		t.Fatalf("connect: %v", err)
	}
	ccancel()
	stopped := 0
	for stopped == 0 && !until(ns) {
		select {
		case <-done:
			stopped++
		case <-ctx.Done():
			t.Fatal("timed out")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	for range 2 - stopped {
		<-done
	}
	return errs
}

func (p *validatorPair) runOK(t *testing.T, until func(ns []*Node) bool) {
	t.Helper()
	for i, err := range p.run(t, until) {
		if err != nil {
			t.Fatalf("validator %d: %v", i, err)
		}
	}
}

// wantRefusedUnsigned runs the pair again and fails t unless validator 1
// refuses with ErrConsensusStateOld and its consensus state is still old
// (it signed nothing: the driver saves the state before a vote leaves).
func (p *validatorPair) wantRefusedUnsigned(t *testing.T, what string, old []byte) {
	t.Helper()
	b := p.homes[1]
	errs := p.run(t, func([]*Node) bool { now, _ := os.ReadFile(b.consensusStatePath()); return string(now) != string(old) })
	if !errors.Is(errs[1], ErrConsensusStateOld) {
		t.Fatalf("validator 1 with %s: %v, want ErrConsensusStateOld", what, errs[1])
	}
	if now, err := os.ReadFile(b.consensusStatePath()); err != nil || string(now) != string(old) {
		t.Fatalf("validator 1 with %s wrote its consensus state before refusing (it signed): %v", what, err)
	}
}

// copyTree copies the folder from to to (a backup, or its restore).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// A validator's consensus state is put back from an old backup while its
// ledger is lost: the start-up check, reading the empty ledger, sees no
// sign of it; the refill brings back commits that carry the validator's
// signature above the old state's, and the validator refuses to sign with
// that state (the code before signed at once, again where it had signed).
func TestAnOldConsensusStateBesideALostLedgerIsRefusedOnceTheRefillShowsLaterSignatures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two validators three times")
	}
	p := newValidatorPair(t)
	b := p.homes[1]
	p.runOK(t, func(ns []*Node) bool { return ns[1].Height() >= 5 })
	old, err := os.ReadFile(b.consensusStatePath())
	if err != nil {
		t.Fatal(err)
	}
	p.runOK(t, func(ns []*Node) bool { return ns[1].Height() >= 40 })

	if err := os.RemoveAll(b.LedgerDir()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.consensusStatePath(), old, 0o600); err != nil {
		t.Fatal(err)
	}
	p.wantRefusedUnsigned(t, "an old state beside a lost ledger", old)
}

// A validator's whole data folder (ledger and consensus state, which agree)
// is put back from an old backup, as a disk image or a VM snapshot would:
// nothing on its disk shows it. It catches up with the other validator
// before it signs, finds its own signature in the commits it fetched above
// its state's, and refuses; it signed nothing meanwhile (the code before
// started signing at once at the old height, proposing and prevoting
// again at heights where it had signed other blocks).
func TestAValidatorsDataFolderPutBackFromAnOldCopyIsRefusedBeforeItSignsAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two validators three times")
	}
	p := newValidatorPair(t)
	b := p.homes[1]
	data := filepath.Join(string(b), "data")
	backup := filepath.Join(t.TempDir(), "data")
	p.runOK(t, func(ns []*Node) bool { return ns[1].Height() >= 5 })
	copyTree(t, data, backup)
	old, err := os.ReadFile(b.consensusStatePath())
	if err != nil {
		t.Fatal(err)
	}
	p.runOK(t, func(ns []*Node) bool { return ns[1].Height() >= 60 })

	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	copyTree(t, backup, data)
	p.wantRefusedUnsigned(t, "its data folder put back from an old copy", old)
}

// The same validator pair stopped and started again as it was (nothing
// put back) goes on signing: catching up first costs a restart nothing.
func TestAValidatorRestartedWithItsOwnDataCatchesUpAndSignsAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two validators twice")
	}
	p := newValidatorPair(t)
	var first uint64
	p.runOK(t, func(ns []*Node) bool { first = ns[1].Height(); return first >= 5 })
	p.runOK(t, func(ns []*Node) bool { return ns[1].Height() >= first+10 })
}

// A validator's whole data folder is lost: it looks new, and the start-up
// check cannot tell; once caught up, the commits it fetched carry its
// signature while its state records none, and it refuses, having signed
// nothing (the code before signed at once from height 1, again where it
// had signed).
func TestAValidatorWhoseWholeDataFolderWasLostIsRefusedOnceCaughtUp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two validators twice")
	}
	p := newValidatorPair(t)
	b := p.homes[1]
	p.runOK(t, func(ns []*Node) bool { return ns[1].Height() >= 20 })
	if err := os.RemoveAll(filepath.Join(string(b), "data")); err != nil {
		t.Fatal(err)
	}
	st, err := driver.NewFileStorage(nil, b.ConsensusDir())
	if err != nil {
		t.Fatal(err)
	}
	signed := func() bool {
		hs, _, err := st.Load()
		return err == nil && (hs.SignedHeight > 0 || len(hs.Votes) > 0)
	}
	errs := p.run(t, func([]*Node) bool { return signed() })
	if !errors.Is(errs[1], ErrConsensusStateOld) || !strings.Contains(errs[1].Error(), "records no signature") {
		t.Fatalf("validator 1 with its data folder lost: %v, want ErrConsensusStateOld, no signature recorded", errs[1])
	}
	if signed() {
		t.Fatal("validator 1 with its data folder lost signed before refusing")
	}
}
