package lint

import (
	"go/ast"
	"go/token"
	"go/types"
	"slices"
	"sort"
	"strings"
)

// A finding is one breach of a rule of the house, at a position.
type finding struct {
	rule string // one of the rule names below
	at   string // file:line relative to the tree's root
	msg  string
}

func (f finding) String() string { return f.at + ": " + f.rule + ": " + f.msg }

// The rules, by name.
const (
	ruleImports   = "imports"         // a package imports against DESIGN.md's table
	ruleNoRoom    = "no-room"         // a package in no room of the table
	rulePureIO    = "pure-io"         // a pure core imports an I/O or OS-randomness package
	rulePureGo    = "pure-go"         // a pure core starts a goroutine
	rulePureClock = "pure-clock"      // a pure core reads the clock or waits on it
	rulePureRand  = "pure-rand"       // a pure core uses math/rand's global source
	ruleAPIWrite  = "api-store-write" // an api package uses the store's write side
	ruleStoreSide = "store-side"      // a store function in neither side's list
	ruleUnwired   = "node-unwired"    // an exported type of node that nothing wires
)

// lint runs every rule over a tree.
func lint(t *tree) []finding {
	var out []finding
	for _, rule := range []func(*tree) []finding{checkImports, checkPure, checkAPIWrites, checkStoreSides, checkNodeWiring} {
		out = append(out, rule(t)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// checkImports: every package is in a room, and imports only what its
// room may (the table `allowed`).
func checkImports(t *tree) []finding {
	var out []finding
	for _, dir := range t.dirs {
		p := t.pkgs[dir]
		r := room(dir)
		if r == "" {
			if dir != "." {
				out = append(out, finding{ruleNoRoom, t.pos(p.files[0].Package), "package " + dir + " is in no room of DESIGN.md"})
			}
			continue
		}
		for _, f := range p.files {
			for _, imp := range f.Imports {
				path := importPathOf(imp)
				if isStd(path) || slices.ContainsFunc(allowed[r], func(a string) bool { return strings.HasPrefix(path, a) }) {
					continue
				}
				out = append(out, finding{ruleImports, t.pos(imp.Pos()), "(" + r + ") imports " + path})
			}
		}
	}
	return out
}

// clockReads are the functions of package time that read the clock or
// wait on it. Its types and constants (time.Time, time.Duration,
// time.UnixMilli) are fine: time is an argument.
var clockReads = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick"}

// seededRand are the names of math/rand and math/rand/v2 that make or
// name a source the caller seeds; every other top-level function draws
// from the global source.
var seededRand = []string{"New", "NewSource", "NewPCG", "NewChaCha8", "NewZipf", "Rand", "Source", "Source64", "PCG", "ChaCha8", "Zipf"}

// checkPure: the pure cores import no I/O package, start no goroutine,
// read no clock and draw from no global random source (STYLE.md, habits
// 1 and 14). The uses are found by the type checker: an aliased import
// or a shadowing local variable is seen for what it is.
func checkPure(t *tree) []finding {
	var out []finding
	for _, dir := range t.dirs {
		if !isPure(dir) {
			continue
		}
		p := t.check(dir)
		for _, f := range p.files {
			for _, imp := range f.Imports {
				path := importPathOf(imp)
				at := t.pos(imp.Pos())
				if path == "syscall" && slices.ContainsFunc(mapsMemory, func(f string) bool { return strings.HasPrefix(at, f+":") }) {
					continue
				}
				for _, b := range bannedInPure {
					if path == b || strings.HasSuffix(b, "/") && strings.HasPrefix(path, b) {
						out = append(out, finding{rulePureIO, at, "imports " + path})
					}
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GoStmt:
					out = append(out, finding{rulePureGo, t.pos(n.Pos()), "starts a goroutine"})
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Go" && !t.inModule(p.info.Uses[sel.Sel]) {
						out = append(out, finding{rulePureGo, t.pos(n.Pos()), "starts a goroutine (a Go method: sync.WaitGroup's, errgroup's)"})
					}
				case *ast.SelectorExpr:
					switch pkgPath(p.info, n) {
					case "time":
						if slices.Contains(clockReads, n.Sel.Name) {
							out = append(out, finding{rulePureClock, t.pos(n.Pos()), "calls time." + n.Sel.Name})
						}
					case "math/rand", "math/rand/v2":
						if !slices.Contains(seededRand, n.Sel.Name) {
							out = append(out, finding{rulePureRand, t.pos(n.Pos()), "uses the global source: rand." + n.Sel.Name})
						}
					}
				}
				return true
			})
		}
	}
	return out
}

// inModule reports whether obj is declared by the module. Objects of
// other packages are not loaded (they stand in as empty packages), so a
// method of sync.WaitGroup resolves to nothing: not the module's.
func (t *tree) inModule(obj types.Object) bool {
	return obj != nil && obj.Pkg() != nil && (obj.Pkg().Path() == t.module || strings.HasPrefix(obj.Pkg().Path(), t.module+"/"))
}

// pkgPath is the import path of the package a selector x.Sel selects
// from, when x names an imported package ("" otherwise).
func pkgPath(info *types.Info, sel *ast.SelectorExpr) string {
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return ""
	}
	if pn, ok := info.Uses[id].(*types.PkgName); ok {
		return pn.Imported().Path()
	}
	return ""
}

// The store's two sides. api may read the chain and the registry (its
// errors, types and read methods: DESIGN.md's "store (read side)"); what
// opens a store, writes to it or closes it belongs to node and the
// application, and so do store's sub-packages (store/storetest damages a
// ledger for the fault tests). Every exported function and method of
// store is in one of the two lists (ruleStoreSide), so a new one is
// classified when it is written. Methods are "Type.Method".
var (
	storeWriteSide = []string{
		"Open", "OpenRegistry", "Ledger.Commit", "Ledger.PutState", "Ledger.Flush", "Ledger.Close",
		"Registry.PutKey", "Registry.PutVoters", "Registry.Issue", "Registry.Close",
		"Ledger.BeginRestore", "Ledger.AbandonRestore", "Ledger.RestoreWrites", "Ledger.FinishRestore", "Ledger.Backfill", "Ledger.Reverified",
		"Ledger.Checkpoint", "Ledger.StartFlush", "NewCache", "Cache.Close", "OpenSnapshots", "Snapshots.Take", "Snapshots.Start", "Snapshots.Open", "Snapshots.Close",
	}
	storeReadSide = []string{
		"Ledger.Height", "Ledger.Header", "Ledger.Block", "Ledger.BlockBytes", "Ledger.Tx", "Ledger.CommitAt", "Ledger.TxLocation",
		"Ledger.Get", "Ledger.Scan", "Ledger.ScanAfter", "Ledger.Base", "Ledger.Filled", "Ledger.Whole", "Ledger.VerifiedFrom", "Ledger.Memory", "Ledger.Writes",
		"Snapshots.List", "SnapshotReader.Height", "SnapshotReader.Get", "SnapshotReader.ScanRange", "SnapshotReader.Close",
		"Registry.Keys", "Registry.HasVoter", "Registry.VoterCode", "Registry.AnyVoterCode", "Registry.Voters", "Registry.Issued",
	}
)

// storeName is a store function's name in the lists above, or "" if fn
// is not an exported function or method of store's exported types.
func storeName(storePath string, fn *types.Func) string {
	if fn.Pkg() == nil || fn.Pkg().Path() != storePath || !fn.Exported() {
		return ""
	}
	sig, _ := fn.Type().(*types.Signature)
	if sig == nil || sig.Recv() == nil {
		return fn.Name()
	}
	recv := sig.Recv().Type()
	if ptr, ok := recv.(*types.Pointer); ok {
		recv = ptr.Elem()
	}
	named, ok := recv.(*types.Named)
	if !ok || !named.Obj().Exported() {
		return ""
	}
	return named.Obj().Name() + "." + fn.Name()
}

// checkAPIWrites: no package of the api room uses (calls, or takes as a
// value) a function or method of the store's write side, or of a
// sub-package of store.
func checkAPIWrites(t *tree) []finding {
	var out []finding
	storePath := t.importPath("store")
	for _, dir := range t.dirs {
		if !within(dir, []string{"api"}) {
			continue
		}
		p := t.check(dir)
		for id, obj := range p.info.Uses {
			fn, ok := obj.(*types.Func)
			if !ok {
				continue
			}
			if name := storeName(storePath, fn); name != "" && slices.Contains(storeWriteSide, name) {
				out = append(out, finding{ruleAPIWrite, t.pos(id.Pos()), "uses the store's write side: store." + name})
			}
			if fn.Pkg() != nil && strings.HasPrefix(fn.Pkg().Path(), storePath+"/") {
				out = append(out, finding{ruleAPIWrite, t.pos(id.Pos()), "uses a store tool: " + strings.TrimPrefix(fn.Pkg().Path(), t.module+"/") + "." + fn.Name()})
			}
		}
	}
	return out
}

// checkStoreSides: every exported function of store, and every exported
// method of its exported types, is in storeWriteSide or storeReadSide.
func checkStoreSides(t *tree) []finding {
	p := t.check("store")
	if p == nil {
		return nil
	}
	var out []finding
	storePath := t.importPath("store")
	for id, obj := range p.info.Defs {
		fn, ok := obj.(*types.Func)
		if !ok {
			continue
		}
		if name := storeName(storePath, fn); name != "" && !slices.Contains(storeWriteSide, name) && !slices.Contains(storeReadSide, name) {
			out = append(out, finding{ruleStoreSide, t.pos(id.Pos()),
				"store." + name + " is in neither storeWriteSide nor storeReadSide (lint/rules_test.go): say which side it is"})
		}
	}
	return out
}

// checkNodeWiring: node is the composition root, so an exported type it
// declares must be wired: used outside the file that declares it, by
// node's non-test code or by a package of cmd. Used means named (as a
// type, a receiver, a composite literal, an embedded field) or held: an
// expression there has the type (T, *T, []T or []*T), as the value cmd
// gets from node.Recount and reads. A type only its own file uses is
// logic living in the wrong room, or dead.
func checkNodeWiring(t *tree) []finding {
	node := t.check("node")
	if node == nil {
		return nil
	}
	declared := map[*types.TypeName]string{} // exported type → its file
	for id, obj := range node.info.Defs {
		if tn, ok := obj.(*types.TypeName); ok && tn.Exported() && tn.Parent() == node.types.Scope() {
			declared[tn] = t.fset.Position(id.Pos()).Filename
		}
	}
	wired := map[*types.TypeName]bool{}
	use := func(obj types.Object, at token.Pos) {
		if tn, ok := obj.(*types.TypeName); ok {
			if file, ok := declared[tn]; ok && t.fset.Position(at).Filename != file {
				wired[tn] = true
			}
		}
	}
	users := []*pkg{node}
	for _, dir := range t.dirs {
		if within(dir, []string{"cmd"}) {
			users = append(users, t.check(dir))
		}
	}
	for _, p := range users {
		for id, obj := range p.info.Uses {
			use(obj, id.Pos())
		}
		for e, tv := range p.info.Types {
			if named := heldType(tv.Type); named != nil {
				use(named.Obj(), e.Pos())
			}
		}
	}
	var out []finding
	for tn := range declared {
		if !wired[tn] {
			out = append(out, finding{ruleUnwired, t.pos(tn.Pos()),
				"node." + tn.Name() + " is used only in its own file: node wires, it does not hold logic (move it to its room) or drop it"})
		}
	}
	return out
}

// heldType is the named type T of a value of type T, *T, []T or []*T.
func heldType(typ types.Type) *types.Named {
	if s, ok := typ.(*types.Slice); ok {
		typ = s.Elem()
	}
	if p, ok := typ.(*types.Pointer); ok {
		typ = p.Elem()
	}
	named, _ := typ.(*types.Named)
	return named
}

// excuses are findings in today's tree that another change in flight
// removes; each says which. An excuse that matches no finding fails
// TestEveryExcuseIsStillNeeded: delete it then.
var excuses = []struct{ rule, file, why string }{
	// none today: api/registrarapi's writes moved behind node/issuer
}

func excused(f finding) bool {
	return slices.ContainsFunc(excuses, func(e struct{ rule, file, why string }) bool {
		return f.rule == e.rule && strings.HasPrefix(f.at, e.file+":")
	})
}
