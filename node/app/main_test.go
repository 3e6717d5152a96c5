package app

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the app started (its verification workers) has stopped
// the tests end: each belongs to a component's Run, which waits for it.
// libp2p's UPnP gateway search (NATPortMap) reads its socket for its own
// search time, deaf to the host's context, and then ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/nat/internal/nat.discoverNATs.func1"))
}
