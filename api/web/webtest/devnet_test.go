package webtest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

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
