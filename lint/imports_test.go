package lint

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/cocorico/node"

// allowed lists, for each room, the import path prefixes its non-test code
// may use besides the standard library. A package matches the longest
// room prefix. DESIGN.md's table, plus the libraries each room is for.
var allowed = map[string][]string{
	"consensus": {module + "/consensus", "golang.org/x/crypto", "github.com/fxamacker/cbor/v2", "github.com/hdevalence/ed25519consensus"},
	// (bloom: the state's filter of voter records, ballot/voterfilter.go)
	"ballot": {module + "/ballot", module + "/consensus", module + "/throttle", "golang.org/x/crypto", "filippo.io/bigmod",
		"github.com/cloudflare/circl", "github.com/fxamacker/cbor/v2", "github.com/bits-and-blooms/bloom/v3"},
	"store": {module + "/store", module + "/consensus", "github.com/cockroachdb/pebble/v2", "github.com/prometheus/client_golang"},
	"p2p": {module + "/p2p", module + "/consensus", module + "/throttle", "github.com/libp2p/", "github.com/multiformats/",
		"github.com/prometheus/client_golang"},
	// The API bounds its connections with x/net's LimitListener, and the
	// log lines a client could multiply with x/time's rate.Sometimes.
	"api": {module + "/api", module + "/ballot", module + "/consensus", module + "/store", module + "/throttle",
		"github.com/prometheus/client_golang", "golang.org/x/net/netutil", "golang.org/x/time/rate"},
	// The client library paces its load generator with a token bucket.
	"api/client": {module + "/api", module + "/ballot", module + "/consensus", "golang.org/x/time/rate"},
	// The pages import no other room: they read the chain through the
	// API. The WebAssembly voter client is the ballot package in the
	// browser, with rsc.io/qr for the proof of vote's QR code.
	"api/web":      {module + "/api/web"},
	"api/web/wasm": {module + "/ballot", module + "/consensus", "rsc.io/qr"},
	// The browser tests' one helper, under the "browser" build tag:
	// Chromium started through chromedp.
	"api/web/webtest": {"github.com/chromedp/"},
	"node":            {module + "/", "github.com/", "golang.org/x/"},
	// The application: the ballot rules and the ledger behind the
	// driver's interface, nothing of the API or the network.
	// (throttle: the bounded table of voter keys whose casts are checked
	// alone, node/app/checkqueue.go.)
	"node/app": {module + "/node/app", module + "/ballot", module + "/consensus", module + "/store", module + "/throttle",
		"github.com/prometheus/client_golang"},
	"cmd":    {module + "/", "github.com/", "golang.org/x/"},
	"deploy": {module + "/", "github.com/", "golang.org/x/"},
	"lint":   {},
	// The token buckets and bounded tables every throttle uses (the
	// registrar's, the API's, the gossip inspection's).
	"throttle":          {},
	"ballot/ballottest": {module + "/ballot", module + "/consensus"},
	// The registrar's service writes its store (api may not); api/registrarapi serves it through an interface.
	// (rate: its refusals' log lines, which rotating addresses multiply.)
	"node/issuer": {module + "/ballot", module + "/consensus", module + "/store", "github.com/prometheus/client_golang", "golang.org/x/sync/errgroup",
		"golang.org/x/time/rate"},
}

// pure lists the rooms that must read no clock, start no goroutine and do
// no I/O (STYLE.md, habit 1). The check is by import and by use, on the
// AST with its types (rules_test.go).
var pure = []string{"consensus", "ballot", "throttle"}

// impure are the sub-packages of pure rooms that are their I/O edges.
var impure = []string{"consensus/driver", "consensus/sim", "ballot/ballottest"}

// bannedInPure are the imports a pure core may not have: an entry ending
// in "/" bans the packages below it, any other that path alone (net/url
// and net/netip parse, and do no I/O). crypto/rand reads the system's
// randomness: randomness is an input.
var bannedInPure = []string{"os", "os/", "net", "net/http", "net/http/", "net/rpc", "net/smtp", "io/ioutil",
	"syscall", "log", "log/", "crypto/rand", "plugin"}

// mapsMemory are the files of a pure core that may import syscall: they
// map and unmap anonymous private memory (an allocator outside Go's
// heap: no file, no device, nothing outside the process), which is no
// I/O. Nothing else of syscall belongs in them.
var mapsMemory = []string{"consensus/offheap_unix.go"}

func room(pkg string) string {
	best := ""
	for r := range allowed {
		if (pkg == r || strings.HasPrefix(pkg, r+"/")) && len(r) > len(best) {
			best = r
		}
	}
	return best
}

func isStd(path string) bool { return !strings.Contains(strings.SplitN(path, "/", 2)[0], ".") }

func isPure(pkg string) bool { return within(pkg, pure) && !within(pkg, impure) }

// houseFindings lints the module this test belongs to, once.
var houseFindings = sync.OnceValues(func() ([]finding, error) {
	t, err := loadTree("..", module)
	if err != nil {
		return nil, err
	}
	return lint(t), nil
})

// checkHouse fails the test with every finding of the module under one of
// the rules.
func checkHouse(t *testing.T, rules ...string) {
	t.Helper()
	all, err := houseFindings()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		for _, r := range rules {
			if f.rule == r && !excused(f) {
				t.Error(f)
			}
		}
	}
}

func TestImportsPointTheWayDesignSays(t *testing.T) { checkHouse(t, ruleImports, ruleNoRoom) }

func TestPureCoresDoNoIOReadNoClockStartNoGoroutine(t *testing.T) {
	checkHouse(t, rulePureIO, rulePureGo, rulePureClock, rulePureRand)
}

func TestAPIUsesOnlyTheStoresReadSide(t *testing.T) { checkHouse(t, ruleAPIWrite, ruleStoreSide) }

func TestEveryExportedTypeOfNodeIsWired(t *testing.T) { checkHouse(t, ruleUnwired) }

func TestEveryExcuseIsStillNeeded(t *testing.T) {
	all, err := houseFindings()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range excuses {
		if !slices.ContainsFunc(all, func(f finding) bool { return f.rule == e.rule && strings.HasPrefix(f.at, e.file+":") }) {
			t.Errorf("the excuse for %s in %s is no longer needed (%s): delete it from excuses", e.rule, e.file, e.why)
		}
	}
}
