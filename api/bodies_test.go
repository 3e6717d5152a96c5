package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
)

// holdBody opens a connection that announces a batch of n bytes from the
// client address from, sends its first sent bytes, and holds the rest
// back.
func holdBody(t *testing.T, ts *httptest.Server, from string, n, sent int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /v1/casts/batch HTTP/1.1\r\nHost: node\r\nX-Forwarded-For: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{%s", from, n, bytes.Repeat([]byte(" "), sent-1))
	return c
}

// waitHeld waits until the node holds want bytes of bodies.
func waitHeld(t *testing.T, s *Server, want int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s.refused.bodies.mu.Lock()
		held := s.refused.bodies.held
		s.refused.bodies.mu.Unlock()
		if held == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node holds %d bytes of bodies, want %d", held, want)
		}
	}
}

// aCast is a cast of the right shape (its signatures are not checked
// here: the backends are fakes).
var aCast = ballot.Cast{Voter: bytes.Repeat([]byte{1}, 32), Seq: 1, TokenPrefix: bytes.Repeat([]byte{2}, 32), Token: bytes.Repeat([]byte{3}, 256), Signature: bytes.Repeat([]byte{4}, 64)}

// castFrom posts one cast to POST /v1/casts as the client address from.
func castFrom(t *testing.T, ts *httptest.Server, from string) (int, string) {
	t.Helper()
	data, _ := json.Marshal(&aCast)
	return sendFrom(t, ts, "/v1/casts", from, data)
}

// postFrom posts a batch of one cast as the client address from.
func postFrom(t *testing.T, ts *httptest.Server, from string, pad int) (int, string) {
	t.Helper()
	data, _ := json.Marshal(BatchRequest{Casts: []*ballot.Cast{&aCast}})
	data = append(data, bytes.Repeat([]byte(" "), pad)...) // white space the decoder skips
	return sendFrom(t, ts, "/v1/casts/batch", from, data)
}

// sendFrom posts body to path as the client address from and returns the
// status and the error code.
func sendFrom(t *testing.T, ts *httptest.Server, path, from string, body []byte) (int, string) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, ts.URL+path, bytes.NewReader(body))
	r.Header.Set("X-Forwarded-For", from)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e ErrorBody
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error.Code
}

// Bodies announced and sent slowly hold the node's memory only within
// BodyLimits, and only for what they sent: a body announced at 256 KiB
// that sent one byte holds 4 KiB (the first room a body takes), one that
// sent 200 KiB holds 256 KiB (its room doubles as bytes arrive). An
// address past its share, then everyone past the total, gets 503
// overloaded, while other addresses go on; what a closed connection held
// is free again. A body over the endpoint's limit is refused (413) on its
// Content-Length, unread.
func TestSlowLargeBodiesHoldOnlyTheBodyBudgetAndOtherAddressesGoOn(t *testing.T) {
	s := New(Config{Backend: &refusingBackend{}, Refusals: RefusalLimits{ClientIPHeader: "X-Forwarded-For"},
		Bodies: BodyLimits{Total: 1 << 20, PerAddress: 300 << 10}})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close) // after the held connections close (cleanups run last first)
	const big, sent = 256 << 10, 200 << 10

	trickle := holdBody(t, ts, "192.0.2.7", big, 1)
	waitHeld(t, s, bodyChunk)
	trickle.Close()
	waitHeld(t, s, 0)

	held := holdBody(t, ts, "192.0.2.1", big, sent)
	waitHeld(t, s, big)
	if code, e := postFrom(t, ts, "192.0.2.1", 50<<10); code != http.StatusServiceUnavailable || e != "overloaded" {
		t.Fatalf("a second body from the address holding 256 KiB of its 300: %d %q, want 503 overloaded", code, e)
	}
	if code, _ := postFrom(t, ts, "192.0.2.2", 50<<10); code != http.StatusOK {
		t.Fatalf("another address: %d, want 200 (its batch answered)", code)
	}
	for i := 3; i <= 5; i++ {
		holdBody(t, ts, fmt.Sprintf("192.0.2.%d", i), big, sent)
	}
	waitHeld(t, s, 4*big)
	if code, e := postFrom(t, ts, "192.0.2.6", 0); code != http.StatusServiceUnavailable || e != "overloaded" {
		t.Fatalf("a new address with the node's 1 MiB of bodies held: %d %q, want 503 overloaded", code, e)
	}
	// A voter's single cast has a room of its own: batches cannot take it.
	if code, e := castFrom(t, ts, "192.0.2.6"); code != http.StatusBadRequest {
		t.Fatalf("a single cast while batches hold all of theirs: %d %q, want 400 (read and refused by the fake backend)", code, e)
	}
	held.Close()
	waitHeld(t, s, 3*big)
	if code, _ := postFrom(t, ts, "192.0.2.1", 50<<10); code != http.StatusOK {
		t.Fatalf("the first address once its held body is gone: %d, want 200", code)
	}

	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/casts/batch HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", 64<<20)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body announced at 64 MiB: %v %v, want 413 before it is sent", resp, err)
	}
}

// A body announced over the endpoint's limit is refused before a byte of
// it is sent, and the connection closed: net/http would otherwise wait to
// read (and discard) up to 256 KiB of it before answering, and a client
// that never sends it would get its 413 only at the read timeout (the test
// server has none: the answer would never come).
func TestABodyAnnouncedOverTheLimitIsRefusedBeforeItIsSentAndTheConnectionClosed(t *testing.T) {
	s := New(Config{State: &slowState{}, Backend: &refusingBackend{}})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	r, resp, e := announceCast(t, ts, s.cfg.MaxBodyBytes+100, "")
	if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != "body_too_large" || !resp.Close {
		t.Fatalf("%d %q, Connection: close %v; want 413 body_too_large and the connection closed", resp.StatusCode, e.Error.Code, resp.Close)
	}
	if _, err := r.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the refusal: %v, want the connection closed by the node", err)
	}
}

// announceCast posts to /v1/casts on a connection of its own a request
// whose Content-Length is n and whose body is only sent (the rest held
// back), and reads the node's answer (within 30 s).
func announceCast(t *testing.T, ts *httptest.Server, n int64, sent string) (*bufio.Reader, *http.Response, ErrorBody) {
	t.Helper()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "POST /v1/casts HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", n, sent)
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	var e ErrorBody
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	return r, resp, e
}

// A batch of many tiny values, within the body's limit, is refused as a
// bad request by the strict decoder before its tree grows (it took a
// hundred times its bytes; the typed decoder would refuse it too, but
// only after that), and the node says why.
func TestABatchOfTinyValuesIsRefusedBeforeItsTreeGrows(t *testing.T) {
	s := New(Config{Backend: &refusingBackend{}})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	body := []byte(`{"casts":[` + strings.Repeat(`{"a":1},`, 400_000) + `{"a":1}]}`)
	resp, err := http.Post(ts.URL+"/v1/casts/batch", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(answer), "times its length in memory") {
		t.Fatalf("a batch of 400,001 tiny objects: %d %s", resp.StatusCode, answer)
	}
}
