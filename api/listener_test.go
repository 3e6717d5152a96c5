package api

import (
	"io"
	"net"
	"testing"
	"time"
)

// greeter accepts on ln and writes "hi" on every connection it accepts,
// then holds it open until the client closes it.
func greeter(t *testing.T, ln net.Listener) {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			go func() {
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
}

// dial connects to addr and reads what the server says first: "hi" from
// an accepted connection, "" (EOF) from one the listener closed.
func dial(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 2)
	n, err := io.ReadFull(c, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		t.Fatalf("read: %v", err)
	}
	return c, string(buf[:n])
}

// A client address gets PerAddress connections at once; a further one is
// closed at once, and a slot comes back when one of its connections
// closes.
func TestOneAddressGetsPerAddressConnectionsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	greeter(t, LimitListener(ln, ConnLimits{Total: 100, PerAddress: 2}))
	addr := ln.Addr().String()
	first, said := dial(t, addr)
	if said != "hi" {
		t.Fatalf("first connection: %q, want accepted", said)
	}
	if _, said := dial(t, addr); said != "hi" {
		t.Fatalf("second connection: %q, want accepted", said)
	}
	if _, said := dial(t, addr); said != "" {
		t.Fatalf("third connection from the same address: %q, want it closed", said)
	}
	// Once a connection of the address is closed (on both ends), the
	// address may open another.
	first.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, said := dial(t, addr)
		if said == "hi" {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("no connection accepted after one of the address's closed")
		}
	}
}

// Loopback (the operator's tools, a bench on the node's machine) is
// exempt from the bound per address.
func TestLoopbackIsExemptFromThePerAddressBound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	greeter(t, LimitListener(ln, ConnLimits{Total: 100, PerAddress: 1, ExemptLoopback: true}))
	for i := range 3 {
		if _, said := dial(t, ln.Addr().String()); said != "hi" {
			t.Fatalf("loopback connection %d: %q, want accepted", i, said)
		}
	}
}
