package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// tree is the module's non-test Go code, parsed, and type-checked on
// demand: what the rules read.
type tree struct {
	root   string // the module's folder
	module string // its module path
	fset   *token.FileSet
	pkgs   map[string]*pkg // by directory relative to root ("." for the root)
	dirs   []string        // sorted
}

// pkg is one package (one folder) of the tree.
type pkg struct {
	dir   string
	files []*ast.File
	names []string // file paths, as files

	checked bool
	types   *types.Package
	info    *types.Info
}

// loadTree parses every non-test .go file under root, skipping hidden
// folders and testdata.
func loadTree(root, module string) (*tree, error) {
	t := &tree{root: root, module: module, fset: token.NewFileSet(), pkgs: map[string]*pkg{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(t.fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(rel)
		if t.pkgs[dir] == nil {
			t.pkgs[dir] = &pkg{dir: dir}
			t.dirs = append(t.dirs, dir)
		}
		t.pkgs[dir].files = append(t.pkgs[dir].files, f)
		t.pkgs[dir].names = append(t.pkgs[dir].names, p)
		return nil
	})
	sort.Strings(t.dirs)
	return t, err
}

// importPath is the import path of the package in dir.
func (t *tree) importPath(dir string) string {
	if dir == "." {
		return t.module
	}
	return t.module + "/" + dir
}

// importPathOf is the path an import spec imports.
func importPathOf(imp *ast.ImportSpec) string {
	p, _ := strconv.Unquote(imp.Path.Value)
	return p
}

// check type-checks the package in dir from source, and the module's
// packages it imports. Packages outside the module (the standard library
// included) stand in as empty packages: the rules need the module's own
// types only (which store method a call is), and the checker, ignoring
// the errors this causes, still resolves every selector on them.
func (t *tree) check(dir string) *pkg {
	p := t.pkgs[dir]
	if p == nil || p.checked {
		return p
	}
	p.checked = true
	p.info = &types.Info{Uses: map[*ast.Ident]types.Object{}, Defs: map[*ast.Ident]types.Object{}, Types: map[ast.Expr]types.TypeAndValue{}}
	conf := types.Config{Importer: importerFunc(t.importPkg), Error: func(error) {}, FakeImportC: true}
	p.types, _ = conf.Check(t.importPath(dir), t.fset, p.files, p.info)
	return p
}

func (t *tree) importPkg(ip string) (*types.Package, error) {
	if ip == t.module || strings.HasPrefix(ip, t.module+"/") {
		dir := strings.TrimPrefix(strings.TrimPrefix(ip, t.module), "/")
		if dir == "" {
			dir = "."
		}
		if p := t.check(dir); p != nil && p.types != nil {
			return p.types, nil
		}
	}
	name := path.Base(ip)
	if strings.HasPrefix(name, "v") && strings.Trim(name[1:], "0123456789") == "" {
		name = path.Base(path.Dir(ip)) // a major version suffix: .../pebble/v2 is pebble
	}
	fake := types.NewPackage(ip, strings.ReplaceAll(name, "-", "_"))
	fake.MarkComplete()
	return fake, nil
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

// pos names a position as file:line, relative to the tree's root.
func (t *tree) pos(p token.Pos) string {
	at := t.fset.Position(p)
	rel, err := filepath.Rel(t.root, at.Filename)
	if err != nil {
		rel = at.Filename
	}
	return filepath.ToSlash(rel) + ":" + strconv.Itoa(at.Line)
}

// within reports whether dir is one of the rooms or below one.
func within(dir string, rooms []string) bool {
	for _, r := range rooms {
		if dir == r || strings.HasPrefix(dir, r+"/") {
			return true
		}
	}
	return false
}
