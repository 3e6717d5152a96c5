package issuer

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocorico/node/ballot/registrar"
)

// countLines is a slog.Handler that counts the lines it is handed.
type countLines struct{ n *atomic.Int64 }

func (c countLines) Enabled(context.Context, slog.Level) bool  { return true }
func (c countLines) Handle(context.Context, slog.Record) error { c.n.Add(1); return nil }
func (c countLines) WithAttrs([]slog.Attr) slog.Handler        { return c }
func (c countLines) WithGroup(string) slog.Handler             { return c }

// Wrong codes from rotating addresses (each address's own budget never
// runs out) log a line a second at most, however many there are: the
// metrics count every one, the log does not grow with them.
func TestWrongCodesFromManyAddressesLogALineASecondAtMost(t *testing.T) {
	f := newFixture(t, Config{})
	var lines atomic.Int64
	f.svc.cfg.Logger = slog.New(countLines{&lines})
	start := time.Now()
	const attempts = 60
	for i := range attempts {
		_, req := f.request(t, "nobody", "guess")
		addr := netip.AddrFrom4([4]byte{198, 51, byte(i / 250), byte(i % 250)})
		if _, err := f.svc.IssueToken(context.Background(), req, addr); !errors.Is(err, registrar.ErrNotAuthorized) && !errors.Is(err, registrar.ErrThrottled) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	most := 2 + int64(time.Since(start)/time.Second)
	if n := lines.Load(); n < 1 || n > most {
		t.Fatalf("%d wrong codes logged %d lines, want 1 to %d (one a second)", attempts, n, most)
	}
}
