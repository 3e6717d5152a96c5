package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocorico/node/consensus"
)

// bigBlocks fakes a ledger whose every block holds 100 transactions of
// 1,000 bytes (its JSON answer about 140 KB), and counts the blocks read.
type bigBlocks struct {
	Chain
	reads *atomic.Int64
}

func (f bigBlocks) Block(h uint64) (*consensus.Block, error) {
	f.reads.Add(1)
	txs := make([][]byte, 100)
	for i := range txs {
		txs[i] = make([]byte, 1000)
		txs[i][0] = byte(i)
	}
	return &consensus.Block{Header: consensus.Header{ChainID: "c", Height: h, TxRoot: consensus.MerkleRoot(txs), TxCount: 100}, Txs: txs}, nil
}

func (bigBlocks) CommitAt(h uint64) (*consensus.Commit, error) {
	return &consensus.Commit{Height: h, Signatures: []consensus.CommitSig{{Signature: make([]byte, 64)}}}, nil
}

// stuckReader is a client that reads nothing: the answer's body stays in
// Write until released (an answer of a few bytes, an error, goes through).
type stuckReader struct {
	httptest.ResponseRecorder
	release <-chan struct{}
	writing chan struct{}
}

func (w *stuckReader) Write(p []byte) (int, error) {
	if len(p) > 1000 {
		close(w.writing)
		<-w.release
	}
	return w.ResponseRecorder.Write(p)
}

// Block answers being written to clients that do not read them are held
// within the node's Answers limits: a second one to the same address is
// refused (503 overloaded, the first one is a block larger than the
// address's share, still served) before its block is even read, others' fit until the total is held;
// once the stuck answers are done, the same requests are served again.
// The answer is compact JSON of the block with its Content-Length.
func TestBlockAnswersToClientsThatDoNotReadAreHeldWithinALimitFakeLedger(t *testing.T) {
	var reads atomic.Int64
	s := New(Config{Chain: bigBlocks{reads: &reads}, Answers: BodyLimits{Total: 350 << 10, PerAddress: 100 << 10},
		Refusals: RefusalLimits{ClientIPHeader: "X-Forwarded-For"}})
	h := s.Handler()
	release := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	t.Cleanup(func() { once.Do(func() { close(release) }); wg.Wait() }) // a failed test lets its stuck answers go
	get := func(addr string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/v1/blocks/5", nil)
		r.Header.Set("X-Forwarded-For", addr)
		w := &stuckReader{ResponseRecorder: *httptest.NewRecorder(), release: release, writing: make(chan struct{})}
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			h.ServeHTTP(w, r)
		}()
		select {
		case <-w.writing: // held, being written
			return nil
		case <-done:
			return &w.ResponseRecorder
		case <-time.After(10 * time.Second):
			t.Fatalf("a block request from %s neither wrote nor answered", addr)
			return nil
		}
	}
	if w := get("198.51.100.1"); w != nil {
		t.Fatalf("first block answer to an address, larger than its share: %d %s, want it sent", w.Code, w.Body)
	}
	before := reads.Load()
	w := get("198.51.100.1")
	if w == nil || w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("second block answer to an address holding one: %v, want 503 overloaded", w)
	}
	if reads.Load() != before {
		t.Error("the block was read for an address already past its share: a refusal must cost no work")
	}
	if w := get("198.51.100.2"); w != nil {
		t.Fatalf("another address's answer within the total: %d, want it sent", w.Code)
	}
	if w := get("2001:db8::1"); w == nil || w.Code != http.StatusServiceUnavailable {
		t.Fatalf("a third answer beyond the total: %v, want 503 overloaded", w)
	}
	once.Do(func() { close(release) })
	wg.Wait()
	r := httptest.NewRequest("GET", "/v1/blocks/5", nil)
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var v BlockView
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &v) != nil || len(v.Txs) != 100 || v.Height != 5 {
		t.Fatalf("after the stuck answers were written: %d, want the block", rec.Code)
	}
	if cl := rec.Header().Get("Content-Length"); cl == "" || rec.Body.Bytes()[1] != '"' {
		t.Errorf("block answer: Content-Length %q, starts %q: want its length and compact JSON", cl, rec.Body.Bytes()[:8])
	}
}
