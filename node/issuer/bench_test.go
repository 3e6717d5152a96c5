package issuer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
)

// BenchmarkIssueTokenOverHTTP issues b.N tokens through the registrar's
// HTTP face, service and store, 32 requests at once, and reports
// tokens/s: by login (a session each, minted beforehand) and by the
// roll (a voter id and code each, demo code hashes).
func BenchmarkIssueTokenOverHTTP(b *testing.B) {
	b.Run("login", func(b *testing.B) { benchIssue(b, false) })
	b.Run("roll", func(b *testing.B) { benchIssue(b, true) })
}

func benchIssue(b *testing.B, roll bool) {
	f := newFixture(b, Config{})
	var entries []registrar.RollEntry
	if roll {
		for i := range b.N {
			entries = append(entries, registrar.RollEntry{VoterID: fmt.Sprintf("v%07d", i), Code: fmt.Sprintf("c%07d", i)})
		}
		if _, err := ImportRoll(context.Background(), f.reg, entries, registrar.DemoHashParams, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
	srv := httptest.NewServer(registrarapi.NewHandler(registrarapi.Config{Service: f.svc, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	bodies := make([][]byte, b.N)
	for i := range bodies {
		tr, err := ballot.NewTokenRequest(rand.Reader, f.b.Keys[0], f.b.ID, f.voter)
		if err != nil {
			b.Fatal(err)
		}
		req := registrarapi.TokenRequest{BallotID: f.b.ID, Blinded: tr.Blinded}
		if roll {
			req.VoterID, req.Code = entries[i].VoterID, entries[i].Code
		} else if req.Session, _, err = f.svc.NewSession(f.b.ID, consensus.Sum(fmt.Appendf(nil, "subject %d", i))); err != nil {
			b.Fatal(err)
		}
		bodies[i], _ = json.Marshal(req)
	}
	const workers = 32
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var next atomic.Int64
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(bodies); i = int(next.Add(1)) - 1 {
				resp, err := hc.Post(srv.URL+"/v1/tokens", "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	if failed.Load() > 0 {
		b.Fatalf("%d requests failed", failed.Load())
	}
}
