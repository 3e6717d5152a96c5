package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Opening rules shared by the ledger and the registry (docs/OPERATIONS.md
// §Start-up checks):
//   - a folder that holds files but no MANIFEST is damaged, never a fresh
//     database: Pebble would otherwise start an empty one and delete the
//     tables it does not know (ErrorIfNotExists);
//   - on-disk corruption is an error that names the file (ErrCorrupt),
//     never a panic: Pebble's default reaction to a bad checksum is its
//     logger's Fatalf.

// corruption names the file a Pebble corruption error is about. Pebble's
// error gives its number ("file 000005: block 3/7: crc32c checksum
// mismatch"), which is looked up in the folder (dir, on fs); its
// DataCorruption event has a path too, the last of which is named when
// the error gives no number of a table there. Several tables may be
// reported at once (Pebble reads every table's properties in the
// background, and a ledger's tables hold one kind of key each,
// splitByKind): the last event need not be the error's file.
type corruption struct {
	path atomic.Pointer[string]
	dir  string
	fs   vfs.FS
}

// pebbleFileNumber finds the number Pebble's corruption errors give a file.
var pebbleFileNumber = regexp.MustCompile(`file (\d{6,})\b`)

func (c *corruption) listener(logger *slog.Logger) *pebble.EventListener {
	return &pebble.EventListener{DataCorruption: func(info pebble.DataCorruptionInfo) {
		path := info.Path
		c.path.Store(&path)
		logger.Error("on-disk corruption", "component", "pebble", "file", info.Path, "err", info.Details)
	}}
}

// wrap turns a Pebble corruption error into ErrCorrupt naming the file;
// other errors pass unchanged.
func (c *corruption) wrap(err error) error {
	if err == nil || !pebble.IsCorruptionError(err) {
		return err
	}
	// Pebble's corruption errors format on several lines, with the
	// marker's own name: one line, for logs and the operator.
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "<corruption detail carrier>", "")), " ")
	file := "a ledger file"
	if p := c.path.Load(); p != nil {
		file = *p
	}
	if m := pebbleFileNumber.FindStringSubmatch(msg); m != nil && c.fs != nil {
		if p := c.fs.PathJoin(c.dir, m[1]+".sst"); c.exists(p) {
			file = p
		}
	}
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, file, msg)
}

func (c *corruption) exists(path string) bool {
	_, err := c.fs.Stat(path)
	return err == nil
}

// openPebble opens dir with the rules above; what is an error of the
// folder's own (no MANIFEST, corruption) wraps ErrCorrupt.
func openPebble(dir string, fs vfs.FS, po *pebble.Options, c *corruption, logger *slog.Logger, fatal func(string)) (*pebble.DB, error) {
	if fs == nil {
		fs = vfs.Default
	}
	po.FS = fs
	c.dir, c.fs = dir, fs
	po.Logger = pebbleLogger{l: logger, fatal: fatal}
	po.EventListener = c.listener(logger)
	names, err := fs.List(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if held := pebbleFiles(names); len(held) > 0 {
		po.ErrorIfNotExists = true
	}
	db, err := pebble.Open(dir, po)
	switch {
	case errors.Is(err, pebble.ErrDBDoesNotExist):
		return nil, fmt.Errorf("%w: the folder holds %s but no MANIFEST (the index of its tables): refusing to start a fresh ledger over them",
			ErrCorrupt, strings.Join(pebbleFiles(names), ", "))
	case err != nil:
		return nil, c.wrap(err)
	}
	return db, nil
}

// pebbleFiles returns the names in a folder listing that are Pebble's
// (tables, logs, manifests, markers, options); a folder with none of them
// is new.
func pebbleFiles(names []string) []string {
	var out []string
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, ".sst"), strings.HasSuffix(n, ".log"), strings.HasSuffix(n, ".blob"),
			strings.HasPrefix(n, "MANIFEST-"), strings.HasPrefix(n, "marker."), strings.HasPrefix(n, "OPTIONS-"):
			out = append(out, n)
		}
	}
	return out
}

// pebbleLogger sends Pebble's messages to slog. Pebble calls Fatalf when
// it cannot go on (a failed MANIFEST or WAL write, an invariant broken);
// fatal then stops the process (Options.Fatal).
type pebbleLogger struct {
	l     *slog.Logger
	fatal func(string)
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("storage failure: the node stops", "component", "pebble", "err", msg)
	if p.fatal == nil {
		exitOnFatal(msg)
		return
	}
	p.fatal(msg)
}

// exitOnFatal is the default Options.Fatal: the message is logged, the
// process ends with status 1 (no panic, no stack dump).
func exitOnFatal(string) { os.Exit(1) }
