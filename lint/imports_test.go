package lint

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/cocorico/node"

// allowed lists, for each room, the import path prefixes its non-test code
// may use besides the standard library. A package matches the longest
// room prefix. DESIGN.md's table, plus the libraries each room is for.
var allowed = map[string][]string{
	"consensus": {module + "/consensus", "golang.org/x/crypto", "github.com/fxamacker/cbor/v2", "github.com/hdevalence/ed25519consensus"},
	"ballot": {module + "/ballot", module + "/consensus", "golang.org/x/crypto",
		"github.com/cloudflare/circl", "github.com/fxamacker/cbor/v2"},
	"store": {module + "/store", module + "/consensus", "github.com/cockroachdb/pebble/v2", "github.com/prometheus/client_golang"},
	"p2p": {module + "/p2p", module + "/consensus", "github.com/libp2p/", "github.com/multiformats/",
		"github.com/prometheus/client_golang"},
	"api": {module + "/api", module + "/ballot", module + "/consensus", module + "/store",
		"github.com/prometheus/client_golang"},
	// The client library paces its load generator with a token bucket.
	"api/client": {module + "/api", module + "/ballot", module + "/consensus", "golang.org/x/time/rate"},
	// The pages import no other room: they read the chain through the
	// API. The WebAssembly voter client is the ballot package in the
	// browser, with rsc.io/qr for the proof of vote's QR code.
	"api/web":           {module + "/api/web"},
	"api/web/wasm":      {module + "/ballot", module + "/consensus", "rsc.io/qr"},
	"node":              {module + "/", "github.com/", "golang.org/x/"},
	"cmd":               {module + "/", "github.com/", "golang.org/x/"},
	"deploy":            {module + "/", "github.com/", "golang.org/x/"},
	"lint":              {},
	"ballot/ballottest": {module + "/ballot", module + "/consensus"},
}

// pure lists the rooms that must read no clock, start no goroutine and do
// no I/O (STYLE.md, habit 1). The check is by import and by call.
var pure = []string{"consensus", "ballot"}

// impure are the sub-packages of pure rooms that are their I/O edges.
var impure = []string{"consensus/driver", "consensus/sim", "ballot/ballottest"}

var bannedInPure = []string{"os", "net", "net/http", "io/ioutil", "os/exec", "syscall", "log"}

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

type goFile struct {
	pkg     string // directory relative to the module root
	path    string
	imports []string
	src     string
}

func sourceFiles(t *testing.T) []goFile {
	t.Helper()
	var out []goFile
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", filepath.Dir(path))
		gf := goFile{pkg: filepath.ToSlash(rel), path: path, src: string(src)}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			gf.imports = append(gf.imports, p)
		}
		out = append(out, gf)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportsPointTheWayDesignSays(t *testing.T) {
	var bad []string
	for _, f := range sourceFiles(t) {
		r := room(f.pkg)
		if r == "" {
			if f.pkg != "." {
				bad = append(bad, f.path+": package "+f.pkg+" is in no room of DESIGN.md")
			}
			continue
		}
	next:
		for _, imp := range f.imports {
			if isStd(imp) {
				continue
			}
			for _, p := range allowed[r] {
				if strings.HasPrefix(imp, p) {
					continue next
				}
			}
			bad = append(bad, f.path+" ("+r+") imports "+imp)
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

func TestPureCoresDoNoIOReadNoClockStartNoGoroutine(t *testing.T) {
	for _, f := range sourceFiles(t) {
		if !isPure(f.pkg) {
			continue
		}
		for _, imp := range f.imports {
			for _, b := range bannedInPure {
				if imp == b {
					t.Errorf("%s imports %s", f.path, imp)
				}
			}
		}
		for _, call := range []string{"time.Now(", "time.Since(", "time.Sleep(", "time.After(", "time.NewTimer(", "go func(", "rand.Int", "rand.Read("} {
			if strings.Contains(f.src, call) {
				t.Errorf("%s calls %s", f.path, strings.TrimSuffix(call, "("))
			}
		}
	}
}

func isPure(pkg string) bool {
	for _, p := range impure {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return false
		}
	}
	for _, p := range pure {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}
