package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cleanTree is a small house that breaks no rule, with a taste of what
// each rule must let pass: a seeded random source and time as an argument
// in a pure core, goroutines and clocks in its I/O edge, the read side of
// the store in api, node types wired from another file or from cmd.
var cleanTree = map[string]string{
	"store/store.go": `package store

type Ledger struct{}
type Registry struct{}

func Open(dir string) (*Ledger, error)     { return &Ledger{}, nil }
func (l *Ledger) Commit(b []byte) error     { return nil }
func (l *Ledger) Height() uint64            { return 0 }
func (r *Registry) Issue(voter string) error { return nil }
func (r *Registry) Issued() uint64          { return 0 }
`,
	"store/storetest/damage.go": `package storetest

func CorruptTables(dir string) error { return nil }
`,
	"consensus/machine.go": `package consensus

import (
	"math/rand/v2"
	"time"
)

type Machine struct{ rng *rand.Rand }

func New(seed uint64) *Machine { return &Machine{rng: rand.New(rand.NewPCG(seed, 0))} }

// Go is a method of the module's own: no goroutine.
func (m *Machine) Go() {}

func (m *Machine) Step() { m.Go() }

func (m *Machine) Tick(now time.Time, d time.Duration) time.Time { return now.Add(d + time.Duration(m.rng.IntN(3))) }
`,
	"consensus/driver/driver.go": `package driver

import "time"

func Run() { go func() {}(); _ = time.Now() }
`,
	"api/api.go": `package api

import "github.com/cocorico/node/store"

type issuer interface{ Issue(voter string) error }

func Height(l *store.Ledger) uint64 { return l.Height() }

func Serve(r *store.Registry, i issuer) uint64 { _ = i.Issue("x"); return r.Issued() }
`,
	"node/node.go": `package node

type Node struct{ app *App }

func (n *Node) Report() Report { return Report{} }
`,
	"node/app.go": `package node

type App struct{}

type Report struct{ Height uint64 }
`,
	"cmd/cocorico/main.go": `package main

import "github.com/cocorico/node/node"

func main() { var n *node.Node; println(n.Report().Height) }
`,
}

// withFile is the clean tree with one file added or replaced.
func withFile(name, src string) map[string]string {
	out := map[string]string{}
	for k, v := range cleanTree {
		out[k] = v
	}
	out[name] = src
	return out
}

func lintFiles(t *testing.T, files map[string]string) []finding {
	t.Helper()
	root := t.TempDir()
	for name, src := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := loadTree(root, module)
	if err != nil {
		t.Fatal(err)
	}
	return lint(tr)
}

func TestTheLintPassesACleanTree(t *testing.T) {
	for _, f := range lintFiles(t, cleanTree) {
		t.Error(f)
	}
}

// Each case plants one violation in the clean tree; the lint must name
// its rule at the planted file, and nothing else.
func TestTheLintNamesEachPlantedViolation(t *testing.T) {
	for _, c := range []struct {
		name, file, src string
		rule, says      string
	}{
		{"an import against the table", "consensus/bad.go", `package consensus

import _ "github.com/cocorico/node/store"
`, ruleImports, "imports github.com/cocorico/node/store"},
		{"a package in no room", "util/util.go", `package util
`, ruleNoRoom, "util"},
		{"a pure core importing os", "ballot/bad.go", `package ballot

import "os"

var _ = os.Getenv
`, rulePureIO, "imports os"},
		{"a pure core importing net/http/httptest", "ballot/bad.go", `package ballot

import _ "net/http/httptest"
`, rulePureIO, "imports net/http/httptest"},
		{"a pure core reading the system's randomness", "ballot/bad.go", `package ballot

import _ "crypto/rand"
`, rulePureIO, "imports crypto/rand"},
		{"a goroutine in a pure core", "consensus/bad.go", `package consensus

func spin(f func()) { go f() }
`, rulePureGo, "starts a goroutine"},
		{"a WaitGroup's Go in a pure core", "ballot/bad.go", `package ballot

import "sync"

func spin(f func()) { var wg sync.WaitGroup; wg.Go(f); wg.Wait() }
`, rulePureGo, "starts a goroutine"},
		{"time.Now in a pure core", "consensus/bad.go", `package consensus

import "time"

func stamp() int64 { return time.Now().UnixMilli() }
`, rulePureClock, "time.Now"},
		{"a timer under another import name", "ballot/bad.go", `package ballot

import clock "time"

func later(f func()) { clock.AfterFunc(clock.Second, f) }
`, rulePureClock, "time.AfterFunc"},
		{"time.Sleep as a method value", "consensus/bad.go", `package consensus

import "time"

var nap = time.Sleep
`, rulePureClock, "time.Sleep"},
		{"math/rand's global source", "consensus/bad.go", `package consensus

import "math/rand"

func pick(n int) int { return rand.Intn(n) }
`, rulePureRand, "rand.Intn"},
		{"math/rand/v2's global source", "ballot/bad.go", `package ballot

import "math/rand/v2"

func pick(n int) int { return rand.IntN(n) }
`, rulePureRand, "rand.IntN"},
		{"api opening the store", "api/bad.go", `package api

import "github.com/cocorico/node/store"

func open() { store.Open("x") }
`, ruleAPIWrite, "store.Open"},
		{"api committing a block through a field", "api/bad.go", `package api

import "github.com/cocorico/node/store"

type Config struct{ Chain *store.Ledger }
type Server struct{ cfg Config }

func (s *Server) write() error { return s.cfg.Chain.Commit(nil) }
`, ruleAPIWrite, "store.Ledger.Commit"},
		{"a sub-package of api issuing as a method value", "api/registrarapi/bad.go", `package registrarapi

import "github.com/cocorico/node/store"

func issuer(r *store.Registry) func(string) error { return r.Issue }
`, ruleAPIWrite, "store.Registry.Issue"},
		{"api damaging a ledger with store's test tools", "api/bad.go", `package api

import "github.com/cocorico/node/store/storetest"

func damage(dir string) { storetest.CorruptTables(dir) }
`, ruleAPIWrite, "store/storetest.CorruptTables"},
		{"a store method on neither side", "store/wipe.go", `package store

func (l *Ledger) Wipe() error { return nil }
`, ruleStoreSide, "store.Ledger.Wipe"},
		{"a node type used only in its own file", "node/cache.go", `package node

type Cache struct{ m map[string]int }

func (c *Cache) get(k string) int { return c.m[k] }
`, ruleUnwired, "node.Cache"},
	} {
		t.Run(c.name, func(t *testing.T) {
			found := lintFiles(t, withFile(c.file, c.src))
			if len(found) != 1 {
				t.Fatalf("want one finding (%s), got %d: %v", c.rule, len(found), found)
			}
			f := found[0]
			if f.rule != c.rule || !strings.HasPrefix(f.at, c.file+":") || !strings.Contains(f.msg, c.says) {
				t.Fatalf("got %s, want %s at %s saying %q", f, c.rule, c.file, c.says)
			}
		})
	}
}
