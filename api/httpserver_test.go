package api

import (
	"bufio"
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

// keepAlive is a raw client connection that sends requests one after the
// other on one TCP connection.
type keepAlive struct {
	c net.Conn
	r *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &keepAlive{c: c, r: bufio.NewReader(c)}
}

// get sends a GET on the connection and returns the status, or the error
// of a connection the server closed.
func (k *keepAlive) get() (int, error) {
	if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitIdle waits until the server holds n idle connections.
func waitIdle(srv *HTTPServer, n int) {
	for {
		srv.mu.Lock()
		idle := len(srv.idle)
		srv.mu.Unlock()
		if idle == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Below BusyConns a keep-alive connection waits for the client's next
// request; once that many are open, the idle ones are closed, so that
// clients keeping connections alive cannot hold every slot.
func TestHTTPServerKeepsIdleConnectionsUntilBusyThenClosesThem(t *testing.T) {
	srv, addr := startTestServer(t, func(w http.ResponseWriter, r *http.Request) {})
	srv.mu.Lock()
	srv.busy = 3
	srv.mu.Unlock()
	a, b := dialKeepAlive(t, addr), dialKeepAlive(t, addr)
	for _, k := range []*keepAlive{a, b} {
		if st, err := k.get(); err != nil || st != http.StatusOK {
			t.Fatalf("first request: %d %v", st, err)
		}
	}
	waitIdle(srv, 2)
	// Not busy: the idle connection serves the client's next request.
	if st, err := a.get(); err != nil || st != http.StatusOK {
		t.Fatalf("a second request on an idle connection, 2 of 3 open: %d %v, want it served", st, err)
	}
	waitIdle(srv, 2)
	// A third connection makes the server busy: the two idle ones go.
	c := dialKeepAlive(t, addr)
	for _, k := range []*keepAlive{a, b} {
		if _, err := k.r.ReadByte(); err != io.EOF {
			t.Fatalf("an idle connection once the server is busy: %v, want it closed (EOF)", err)
		}
	}
	if st, err := c.get(); err != nil || st != http.StatusOK {
		t.Fatalf("the new connection's request: %d %v", st, err)
	}
	// The server is no longer busy once the two closed connections are
	// counted out: a new keep-alive connection stays.
	for open := 3; open > 1; time.Sleep(time.Millisecond) {
		srv.mu.Lock()
		open = srv.open
		srv.mu.Unlock()
	}
	d := dialKeepAlive(t, addr)
	for range 2 {
		if st, err := d.get(); err != nil || st != http.StatusOK {
			t.Fatalf("requests on a connection once the server is quiet again: %d %v", st, err)
		}
	}
}
