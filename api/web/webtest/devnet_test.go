package webtest

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node"
)

// startDevnet runs an in-process devnet (ports picked free) until the
// test ends, and returns its description and voter roll.
func startDevnet(t *testing.T, cfg node.DevnetConfig) (node.DevnetInfo, []registrar.RollEntry) {
	t.Helper()
	cfg.Dir = t.TempDir()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d, err := node.NewDevnet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan node.DevnetInfo, 1)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, func(i node.DevnetInfo) { ready <- i }) }()
	var info node.DevnetInfo
	select {
	case info = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("devnet ended before it was ready: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		<-done
		t.Fatal("devnet not ready after 2 minutes")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("devnet stopped with %v", err)
		}
	})
	f, err := os.Open(info.Voters)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	roll, err := registrar.ParseRoll(f)
	if err != nil {
		t.Fatal(err)
	}
	return info, roll
}

// quickRevotes are the devnet's rules with no wait between re-votes.
func quickRevotes() consensus.AppParams {
	app := consensus.DefaultAppParams()
	app.RevoteIntervalMs = 0
	return app
}

// cliVote votes as roll entry v through the CLI's code (client.Vote) and
// returns its result: the cast id, the checked receipt.
func cliVote(t *testing.T, ctx context.Context, info node.DevnetInfo, nodeURL string, v registrar.RollEntry, choice string) *client.VoteResult {
	t.Helper()
	return cliVoteIn(t, ctx, info, info.Ballot, nodeURL, v, choice)
}

// cliVoteIn is cliVote in another ballot of the devnet.
func cliVoteIn(t *testing.T, ctx context.Context, info node.DevnetInfo, id consensus.Hash, nodeURL string, v registrar.RollEntry, choice string) *client.VoteResult {
	t.Helper()
	wallet, err := client.OpenWallet(filepath.Join(t.TempDir(), "wallet.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Vote(ctx, client.VoteRequest{Node: client.NewNode(nodeURL), Registrar: client.NewRegistrar(info.Registrar, ""),
		BallotID: id, VoterID: v.VoterID, Code: v.Code, Choice: choice, Wallet: wallet, Rand: rand.Reader})
	if err != nil {
		t.Fatalf("vote as %s: %v", v.VoterID, err)
	}
	return res
}
