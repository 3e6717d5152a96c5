package api

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

func startTestServer(t *testing.T, h http.HandlerFunc) (*HTTPServer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer("", h, slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv, ln.Addr().String()
}

// A connection a client opened ahead of need and never used does not hold
// the node's stop (net/http's Shutdown alone waits 5 s for it).
func TestHTTPServerStopClosesConnectionsThatNeverSentARequest(t *testing.T) {
	srv, addr := startTestServer(t, func(w http.ResponseWriter, r *http.Request) {})
	spare, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	for accepted := false; !accepted; time.Sleep(time.Millisecond) {
		srv.mu.Lock()
		accepted = len(srv.fresh) == 1
		srv.mu.Unlock()
	}
	if err := srv.Stop(2 * time.Second); err != nil {
		t.Fatalf("Stop: %v (it waited for the unused connection)", err)
	}
	spare.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := spare.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the unused connection after Stop: %v, want it closed by the server (EOF)", err)
	}
}

// A request in flight when the node stops gets its answer.
func TestHTTPServerStopLetsARequestInFlightFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	srv, addr := startTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	type answer struct {
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- answer{string(b), err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(time.Minute) }()
	// The request is let go only once the stop is under way: the
	// listener no longer takes connections.
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}
	close(release)
	if a := <-got; a.err != nil || a.body != "done" {
		t.Fatalf("the request in flight: %q %v", a.body, a.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
}
