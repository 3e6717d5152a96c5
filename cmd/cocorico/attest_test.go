package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/p2p"
)

func (c *cluster) getJSON(name, path string, v any) error {
	resp, err := http.Get(c.apis[name] + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s on %s: %s", path, name, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// attestationStatus says each node's height and the attestations its
// status counts (of its latest block): what a timeout of the wait for
// attestations says, to tell a node behind from one that missed an
// attesting peer's messages.
func (c *cluster) attestationStatus() string {
	var parts []string
	for _, n := range c.names {
		var st api.StatusView
		if err := c.getJSON(n, "/v1/status", &st); err != nil {
			parts = append(parts, n+": "+err.Error())
			continue
		}
		parts = append(parts, fmt.Sprintf("%s at %d counts %d", n, st.Height, st.Attestations))
	}
	return strings.Join(parts, ", ")
}

// attestations returns how many attestations of block h a node lists.
func (c *cluster) attestations(name string, h uint64) (listed, count int) {
	var v api.AttestationsView
	if err := c.getJSON(name, fmt.Sprintf("/v1/blocks/%d/attestations?limit=200", h), &v); err != nil {
		return -1, -1
	}
	return len(v.Attestations), v.Count
}

// Real processes: 4 validators and 3 volunteers. Each volunteer attests
// the blocks it re-verified (one every few seconds of block time, which
// vouches for every block before it) and gossips them: every node of the
// network counts 3 attesting nodes for every final block, and the results say
// "re-verified by 3 independent nodes"; no validator attests. A peer
// flooding forged attestations is cut off and none of them is stored.
func TestRealProcessesThreeVolunteersAttestEveryFinalBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network of processes")
	}
	c := newCluster(t, 4, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	for _, n := range c.names {
		c.start(n)
	}
	c.startRegistrar()
	c.createBallot(ctx)
	for i := range 6 {
		if _, err := c.vote(ctx, c.names[i%len(c.names)], []string{"for", "against"}[i%2]); err != nil {
			t.Fatalf("vote %d: %v", i, err)
		}
	}
	target := c.agree(ctx, c.names...)
	c.eventuallySays("3 attestations of every block on every node", func() (bool, string) {
		for _, n := range c.names {
			for h := uint64(1); h <= target; h++ {
				if _, count := c.attestations(n, h); count != 3 {
					return false, fmt.Sprintf("(last look: %s counts %d for block %d of %d; %s)", n, count, h, target, c.attestationStatus())
				}
			}
		}
		return true, ""
	})
	validators := map[string]bool{}
	for _, v := range c.genesis.Validators {
		validators[string(v.PubKey)] = true
	}
	for _, n := range c.names {
		var v api.AttestationsView
		for h := uint64(1); h <= target; h++ { // volunteers attest one block every few seconds
			var page api.AttestationsView
			if err := c.getJSON(n, fmt.Sprintf("/v1/blocks/%d/attestations", h), &page); err != nil {
				t.Fatal(err)
			}
			v.Attestations = append(v.Attestations, page.Attestations...)
		}
		if len(v.Attestations) < 3 {
			t.Fatalf("%s lists %d attestations of blocks 1 to %d", n, len(v.Attestations), target)
		}
		for _, a := range v.Attestations {
			if validators[string(a.Node)] {
				t.Fatalf("%s lists a validator's attestation", n)
			}
			if err := a.Verify(c.genesis.Chain()); err != nil {
				t.Fatalf("%s lists %v", n, err)
			}
		}
		r, err := c.node(n).Results(ctx, c.ballot)
		if err != nil {
			t.Fatal(err)
		}
		if r.Attestations != 3 {
			t.Fatalf("%s: results re-verified by %d nodes, want 3", n, r.Attestations)
		}
		var st api.StatusView
		if err := c.getJSON(n, "/v1/status", &st); err != nil || st.Attestations != 3 || st.Alarms != 0 {
			t.Fatalf("%s status: %d attestations, %d alarms, %v", n, st.Attestations, st.Alarms, err)
		}
	}
	code, out := runCLI("status", "--node", c.apis["volunteer-1"])
	if code != exitOK || !strings.Contains(out, "re-verified by 3 independent nodes") || !strings.Contains(out, "alarms   none") {
		t.Errorf("cocorico status:\n%s", out)
	}
	t.Logf("height %d: 3 attestations of every block on all 7 nodes", target)

	t.Run("a peer flooding forged attestations is cut off and none is stored", func(t *testing.T) {
		before := map[string]int{}
		for _, n := range c.names {
			before[n], _ = c.attestations(n, target)
		}
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		hctx, hcancel := context.WithCancel(ctx)
		defer hcancel()
		attacker, err := p2p.New(p2p.Config{Key: key, Genesis: c.genesis, Listen: []string{"/ip4/127.0.0.1/tcp/0"},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, noHandler{})
		if err != nil {
			t.Fatal(err)
		}
		ran := make(chan error, 1)
		go func() { ran <- attacker.Run(hctx) }()
		defer func() { hcancel(); <-ran }()
		if err := attacker.Connect(ctx, c.p2ps["volunteer-0"]); err != nil {
			t.Fatal(err)
		}
		victim, _ := p2p.PeerID(nodeKey(t, c, "volunteer-0"))
		deadline := time.Now().Add(60 * time.Second)
		sent := 0
		for attacker.Connected(victim) {
			if time.Now().After(deadline) {
				t.Fatalf("still connected after %d forged attestations", sent)
			}
			_, sybil, _ := ed25519.GenerateKey(rand.Reader)
			a := consensus.NewAttestation(c.genesis.Chain(), target, consensus.Hash{}, consensus.Hash{}, sybil)
			a.Signature[0] ^= 1
			attacker.PublishWitness(ctx, &consensus.Witness{Attestation: a})
			sent++
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("cut off after %d forged attestations", sent)
		for _, n := range c.names {
			if listed, _ := c.attestations(n, target); listed != before[n] {
				t.Fatalf("%s lists %d attestations of block %d, %d before the flood", n, listed, target, before[n])
			}
		}
	})
}
