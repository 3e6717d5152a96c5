package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed assets
var assetFS embed.FS

// WasmFile is the gzip-compressed WebAssembly voter client in assets.
const WasmFile = "cocorico.wasm.gz"

// asset is one embedded file, served under a name carrying a hash of its
// content so that it can be cached for a year.
type asset struct {
	name     string // hashed name under /assets/
	data     []byte
	ctype    string
	gzipped  bool // data is gzip; served as is with Content-Encoding: gzip
	rawBytes int  // size once decompressed (for gzipped assets)
	// raw is data decompressed, made once, when a client first asks
	// without gzip (8 MB for the WebAssembly client): inflating it again
	// for each such request cost ~50 ms of CPU, which anyone could ask
	// for in a loop.
	raw func() ([]byte, error)
}

// assets indexes the embedded files by their plain and hashed names.
type assets struct {
	byPlain  map[string]*asset
	byHashed map[string]*asset
}

// sharedAssets loads the assets once per process: they never change, and
// the nodes of a devnet would otherwise each hold a copy (the embedded
// files are copied out of the binary when read: 2 MB a node).
var sharedAssets = sync.OnceValues(loadAssets)

func loadAssets() (*assets, error) {
	a := &assets{byPlain: map[string]*asset{}, byHashed: map[string]*asset{}}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		h := hex.EncodeToString(sum[:8])
		plain := e.Name()
		x := &asset{data: data}
		if strings.HasSuffix(plain, ".gz") {
			plain = strings.TrimSuffix(plain, ".gz")
			x.gzipped = true
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("asset %s: %w", e.Name(), err)
			}
			n, err := io.Copy(io.Discard, zr)
			if err != nil {
				return nil, fmt.Errorf("asset %s: %w", e.Name(), err)
			}
			x.rawBytes = int(n)
			x.raw = sync.OnceValues(func() ([]byte, error) {
				zr, err := gzip.NewReader(bytes.NewReader(data))
				if err != nil {
					return nil, err
				}
				return io.ReadAll(zr)
			})
		}
		ext := path.Ext(plain)
		x.name = strings.TrimSuffix(plain, ext) + "." + h + ext
		x.ctype = mime.TypeByExtension(ext)
		if ext == ".wasm" {
			x.ctype = "application/wasm"
		}
		a.byPlain[plain] = x
		a.byHashed[x.name] = x
	}
	if _, ok := a.byPlain["cocorico.wasm"]; !ok {
		return nil, fmt.Errorf("the WebAssembly client assets/%s is missing: run go generate ./api/web", WasmFile)
	}
	return a, nil
}

// path returns the served path of a plain asset name.
func (a *assets) path(plain string) string {
	x, ok := a.byPlain[plain]
	if !ok {
		return "/assets/missing-" + plain
	}
	return "/assets/" + x.name
}

// serve answers /assets/{name}: hashed names only, immutable for a year;
// missing answers any other name.
func (a *assets) serve(w http.ResponseWriter, r *http.Request, missing http.HandlerFunc) {
	x, ok := a.byHashed[r.PathValue("name")]
	if !ok {
		missing(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", x.ctype)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	if !x.gzipped {
		h.Set("Content-Length", fmt.Sprint(len(x.data)))
		w.Write(x.data)
		return
	}
	h.Set("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Length", fmt.Sprint(len(x.data)))
		w.Write(x.data)
		return
	}
	raw, err := x.raw()
	if err != nil { // the embedded file was checked at start: not seen
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(raw)))
	w.Write(raw)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

//go:embed pages
var pageFS embed.FS
