package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/consensus"
)

// A volunteer accepts a cast while it has no peer: its one gossip goes
// nowhere, and gossipsub's own short memory of it (a heartbeat; no node
// asks for it anyway) has passed by the time a peer returns. Gossiped again after RegossipAfter,
// the cast still reaches the validators, becomes final, and the voter
// waiting on the volunteer gets a receipt that verifies.
func TestACastAVolunteerAcceptedWithoutPeersIsGossipedAgainAndBecomesFinal(t *testing.T) {
	if testing.Short() {
		t.Skip("real libp2p hosts and a wait of several seconds")
	}
	ctx, info, _, vol := devnetWithVolunteer(t, P2PConfig{RegossipAfter: time.Second})

	// Join, learn the ballot, then lose every peer.
	host := vol.net.host
	if err := host.Connect(ctx, info.Nodes[0].P2P); err != nil {
		t.Fatal(err)
	}
	volAPI := client.NewNode(vol.APIURL())
	waitUntil(t, ctx, "the volunteer knows the ballot", func() bool {
		_, _, err := volAPI.Ballot(ctx, info.Ballot)
		return err == nil
	})
	for _, p := range host.SyncPeers() {
		host.Disconnect(p)
	}
	waitUntil(t, ctx, "the volunteer alone", func() bool { return host.Peers() == 0 })

	roll := readRoll(t, info.Voters)
	w, err := client.OpenWallet(filepath.Join(t.TempDir(), "wallet.json"))
	if err != nil {
		t.Fatal(err)
	}
	voted := make(chan error, 1)
	var res *client.VoteResult
	go func() {
		var err error
		res, err = client.Vote(ctx, client.VoteRequest{Node: volAPI, Registrar: client.NewRegistrar(info.Registrar, ""),
			BallotID: info.Ballot, VoterID: roll[0].VoterID, Code: roll[0].Code, Choice: "against", Wallet: w,
			Rand: rand.Reader, Poll: 50 * time.Millisecond})
		voted <- err
	}()
	waitUntil(t, ctx, "the cast pending on the volunteer", func() bool { return vol.pool.Len() == 1 })
	time.Sleep(2 * time.Second) // past gossipsub's message history (a heartbeat of 1 s)
	if host.Peers() != 0 {
		t.Fatal("a peer came back by itself: the test proves nothing")
	}
	// The control: the cast has reached no validator yet.
	for _, n := range info.Nodes {
		st, err := client.NewNode(n.API).Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mempool != 0 {
			t.Fatalf("%s holds %d pending transactions before the volunteer reconnects", n.Name, st.Mempool)
		}
	}
	if err := host.Connect(ctx, info.Nodes[0].P2P); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-voted:
		if err != nil {
			t.Fatalf("vote through the volunteer: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the cast never became final")
	}
	if !res.Checks.Valid {
		t.Fatalf("receipt checks failed: %v", res.Checks.Failed())
	}
}

func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// devnetWithVolunteer runs a devnet of 2 validators and 5 voters and a
// volunteer of its chain (startVolunteer), both until the test ends; ctx
// ends 2 minutes after.
func devnetWithVolunteer(t *testing.T, p2p P2PConfig) (context.Context, DevnetInfo, *consensus.Genesis, *Node) {
	t.Helper()
	dir := t.TempDir()
	info, stop := runDevnet(t, dir, 2, 5)
	t.Cleanup(stop)
	g, err := ReadGenesis(info.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx, info, g, startVolunteer(t, ctx, filepath.Join(dir, "volunteer"), g, p2p)
}

// startVolunteer runs a volunteer of g in home, listening on loopback with
// p2p's other settings, until the test ends; it connects to no one.
func startVolunteer(t *testing.T, ctx context.Context, home string, g *consensus.Genesis, p2p P2PConfig) *Node {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	p2p.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	vol, err := New(Config{Home: Home(home), Genesis: g, Key: key, Name: "volunteer", APIAddr: "127.0.0.1:0", P2P: p2p,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- vol.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	return vol
}
