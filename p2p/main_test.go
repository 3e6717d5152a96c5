package p2p

import (
	"testing"

	"go.uber.org/goleak"
)

// ignoredGoroutines are libp2p's own goroutines that Close cannot stop:
// the UPnP gateway search NATPortMap starts reads its socket for its own
// search time (5 s), deaf to the host's context, and then ends.
var ignoredGoroutines = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/nat/internal/nat.discoverNATs.func1"),
}

// Every goroutine of every host a test started has stopped when the tests
// end: the gossip router, subscription readers, dials and pulls belong to
// the host's life, which Close (or Run's end) stops and waits for.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, ignoredGoroutines...) }
