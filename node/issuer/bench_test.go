package issuer

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cocorico/node/api/registrarapi"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// BenchmarkIssueTokenOverHTTP issues b.N tokens through the registrar's
// HTTP face, service and store (the login path: a session each, minted
// beforehand), 32 requests at once; it reports tokens/s.
func BenchmarkIssueTokenOverHTTP(b *testing.B) {
	f := newFixture(&testing.T{}, Config{})
	srv := httptest.NewServer(registrarapi.NewHandler(registrarapi.Config{Service: f.svc, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	bodies := make([][]byte, b.N)
	for i := range bodies {
		tr, err := ballot.NewTokenRequest(rand.Reader, f.b.Keys[0], f.b.ID, f.voter)
		if err != nil {
			b.Fatal(err)
		}
		session, _, err := f.svc.NewSession(f.b.ID, consensus.Sum([]byte{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)}))
		if err != nil {
			b.Fatal(err)
		}
		bodies[i], _ = json.Marshal(registrarapi.TokenRequest{BallotID: f.b.ID, Session: session, Blinded: tr.Blinded})
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
