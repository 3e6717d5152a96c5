package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Snapshots of the ledger for state sync (docs/OPERATIONS.md §Ledger). A
// node keeps Pebble checkpoints of its ledger, each taken
// between two blocks, in a folder of its own:
//
//	DIR/<height as 20 decimal digits>/   a checkpoint (Pebble files) and
//	                                     "manifest", the caller's bytes
//	DIR/tmp-<height>/                    a Take under way
//
// A snapshot folder is complete once it has its manifest: Take writes the
// manifest before it renames the folder into place, and deletion removes
// the manifest first. OpenSnapshots removes what an interrupted Take or
// deletion left (a tmp- folder, a snapshot folder without manifest).

// manifestFile is the name of the caller's manifest in a snapshot folder.
const manifestFile = "manifest"

// Checkpoint writes a Pebble checkpoint of the ledger into dir (which must
// not exist): hard links to its tables, copies of its log and MANIFEST, so
// it is cheap. It holds the commit lock, so the checkpoint is between two
// Commits, and flushes the log first (writes made with NoSync are in it).
// A back-fill may run meanwhile: each is one batch, whole or absent. It is
// refused while a state restore is under way (the state is partial).
func (l *Ledger) Checkpoint(dir string) error { return l.checkpoint(dir, nil) }

// checkpoint is Checkpoint with check called on the height under the lock.
func (l *Ledger) checkpoint(dir string, check func(height uint64) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkpointLocked(dir, check)
}

// checkpointLocked is checkpoint with the commit lock (l.mu) held.
func (l *Ledger) checkpointLocked(dir string, check func(height uint64) error) error {
	if l.restore != restoreNone {
		return fmt.Errorf("checkpoint: %w", errRestoring)
	}
	if check != nil {
		if err := check(l.Height()); err != nil {
			return err
		}
	}
	if err := l.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("checkpoint into %s: %w", dir, l.corrupt.wrap(err))
	}
	return nil
}

// fs is the file system the ledger lives on.
func (l *Ledger) fs() vfs.FS {
	if l.opts.FS == nil {
		return vfs.Default
	}
	return l.opts.FS
}

// Snapshots manages the folder of a node's ledger snapshots: Take adds
// one and prunes the old ones, Open reads one. Its methods are safe from
// any goroutine.
type Snapshots struct {
	dir      string
	fs       vfs.FS
	keep     int
	maxBytes int64
	logger   *slog.Logger
	cache    *pebble.Cache // shared by the snapshots' read-only DBs

	takeMu sync.Mutex // serialises Take
	mu     sync.Mutex // guards what follows and the snapshots' refs
	snaps  []*snapshot
	// held are snapshots pruned while a reader had them open: deleted
	// when their last reader closes, or at Close.
	held   map[*snapshot]bool
	closed bool
}

// SnapshotInfo describes a snapshot: its height and the manifest its
// taker gave.
type SnapshotInfo struct {
	Height   uint64
	Manifest []byte
}

// snapshot is one snapshot folder.
type snapshot struct {
	height   uint64
	dir      string
	manifest []byte
	size     int64
	refs     int  // readers open (Snapshots.mu)
	pruned   bool // no longer listed (Snapshots.mu)

	// dbMu guards db and users, and is held only briefly: a reader counts
	// itself in users while it reads db (a scan whose callback reads
	// again counts twice, never waits), and closeDB sets db to nil (later
	// readers get ErrClosed at once) then waits for users to reach 0. An
	// RWMutex held for reading through a scan deadlocked a node: a nested
	// read waited behind a writer queued to open the (already open) DB,
	// which held Snapshots.mu, which the next Take, on the block-apply
	// path, waited for: the validator stopped applying blocks.
	dbMu    sync.Mutex
	dbFree  *sync.Cond // signalled when users drops to 0
	users   int
	db      *pebble.DB // opened at the first reader; nil when closed
	corrupt corruption
}

// OpenSnapshots opens (creating it) the snapshot folder dir. It keeps the
// newest keep snapshots (keep ≥ 1) and, when maxBytes > 0, fewer while
// they take more than maxBytes (see Take). Leftovers of an interrupted
// Take or deletion are removed; each snapshot's manifest is read once.
func OpenSnapshots(dir string, keep int, maxBytes int64, logger *slog.Logger) (*Snapshots, error) {
	return openSnapshots(vfs.Default, dir, keep, maxBytes, logger)
}

func openSnapshots(fs vfs.FS, dir string, keep int, maxBytes int64, logger *slog.Logger) (*Snapshots, error) {
	if keep < 1 {
		return nil, fmt.Errorf("open snapshots %s: keep %d, want at least 1", dir, keep)
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &Snapshots{dir: dir, fs: fs, keep: keep, maxBytes: maxBytes, logger: logger, held: map[*snapshot]bool{}}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open snapshots %s: %w", dir, err)
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("open snapshots %s: %w", dir, err)
	}
	for _, name := range names {
		path := fs.PathJoin(dir, name)
		height, isSnap := parseSnapshotName(name)
		switch {
		case strings.HasPrefix(name, "tmp-"):
			logger.Info("removing an interrupted snapshot", "dir", path)
			if err := fs.RemoveAll(path); err != nil {
				return nil, fmt.Errorf("open snapshots: remove %s: %w", path, err)
			}
		case isSnap:
			sn, err := s.load(height, path)
			if errors.Is(err, errNoManifest) {
				logger.Info("removing a snapshot without manifest", "dir", path)
				err = fs.RemoveAll(path)
			}
			if err != nil {
				return nil, fmt.Errorf("open snapshots: %s: %w", path, err)
			}
			if sn != nil {
				s.snaps = append(s.snaps, sn)
			}
		default:
			logger.Warn("unknown entry in the snapshot folder, left alone", "path", path)
		}
	}
	slices.SortFunc(s.snaps, func(a, b *snapshot) int { return -cmpUint64(a.height, b.height) })
	s.cache = pebble.NewCache(32 << 20)
	for _, sn := range s.prune() {
		s.remove(sn)
	}
	return s, nil
}

var errNoManifest = errors.New("no manifest")

// load reads the manifest and the size of the snapshot folder at path.
func (s *Snapshots) load(height uint64, path string) (*snapshot, error) {
	f, err := s.fs.Open(s.fs.PathJoin(path, manifestFile))
	if err != nil {
		if _, statErr := s.fs.Stat(s.fs.PathJoin(path, manifestFile)); statErr != nil {
			return nil, errNoManifest
		}
		return nil, err
	}
	manifest, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	size, err := dirSize(s.fs, path)
	if err != nil {
		return nil, err
	}
	return &snapshot{height: height, dir: path, manifest: manifest, size: size}, nil
}

func snapshotName(height uint64) string { return fmt.Sprintf("%020d", height) }

func parseSnapshotName(name string) (uint64, bool) {
	if len(name) != 20 || strings.Trim(name, "0123456789") != "" {
		return 0, false
	}
	h, err := strconv.ParseUint(name, 10, 64)
	return h, err == nil
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dirSize is the sum of the sizes of the files in dir. A table hard-linked
// from the ledger or from another snapshot counts in full in each: the
// sum says what the snapshot would take alone, more than it adds to the
// disk while the ledger still holds its tables.
func dirSize(fs vfs.FS, dir string) (int64, error) {
	names, err := fs.List(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, n := range names {
		st, err := fs.Stat(fs.PathJoin(dir, n))
		if err != nil {
			return 0, err
		}
		total += st.Size()
	}
	return total, nil
}

// Take writes a snapshot of l at height: a checkpoint into DIR/tmp-<height>,
// the caller's opaque manifest into it as "manifest" (synced), then the
// folder renamed to DIR/<height> (the parent synced). The ledger must be
// at height and stay there while the checkpoint is made: Take fails if
// another block was committed since (take it right after Commit, from the
// goroutine that commits). The ledger and the snapshots must be on one
// file system (hard links).
//
// Then it prunes: it keeps the newest keep snapshots and drops the oldest
// ones while their total size exceeds maxBytes, never the newest. A
// pruned snapshot that a reader has open is deleted when its last reader
// closes. A failed deletion is logged, not returned: the snapshot is
// taken.
func (s *Snapshots) Take(l *Ledger, height uint64, manifest []byte) error {
	return <-s.Start(l, height, manifest)
}

// Start is Take in the background: it takes the ledger's commit lock
// before it returns, so that the checkpoint is of the ledger as it is now
// (the next Commit waits until the checkpoint is written, and no longer),
// and the rest (the checkpoint, the manifest, the pruning) runs while the
// caller goes on; the returned channel receives what Take would return.
// A Start waits for the previous one's end: one snapshot at a time. Close
// waits for a Start under way.
func (s *Snapshots) Start(l *Ledger, height uint64, manifest []byte) <-chan error {
	done := make(chan error, 1)
	s.takeMu.Lock()
	l.mu.Lock()
	manifest = bytes.Clone(manifest)
	go func() {
		defer s.takeMu.Unlock()
		done <- s.take(l, height, manifest)
	}()
	return done
}

// take is Take with s.takeMu and l.mu held; it releases l.mu once the
// checkpoint is written (or refused).
func (s *Snapshots) take(l *Ledger, height uint64, manifest []byte) error {
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			l.mu.Unlock()
		}
	}
	defer unlock()
	s.mu.Lock()
	closed, exists := s.closed, slices.ContainsFunc(s.snaps, func(sn *snapshot) bool { return sn.height == height })
	s.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("take snapshot %d: %w", height, ErrClosed)
	case exists:
		return fmt.Errorf("take snapshot %d: it exists", height)
	case l.fs() != s.fs:
		return fmt.Errorf("take snapshot %d: the ledger and the snapshots are on different file systems", height)
	}
	tmp := s.fs.PathJoin(s.dir, "tmp-"+strconv.FormatUint(height, 10))
	final := s.fs.PathJoin(s.dir, snapshotName(height))
	if err := s.fs.RemoveAll(tmp); err != nil {
		return fmt.Errorf("take snapshot %d: %w", height, err)
	}
	err := l.checkpointLocked(tmp, func(at uint64) error {
		if at != height {
			return fmt.Errorf("take snapshot %d: the ledger is at height %d", height, at)
		}
		return nil
	})
	unlock()
	if err == nil {
		err = writeSynced(s.fs, s.fs.PathJoin(tmp, manifestFile), manifest)
	}
	if err == nil {
		err = syncDir(s.fs, tmp)
	}
	if err == nil {
		err = s.fs.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(s.fs, s.dir)
	}
	if err != nil {
		if rmErr := s.fs.RemoveAll(tmp); rmErr != nil {
			s.logger.Warn("could not remove a failed snapshot", "dir", tmp, "err", rmErr)
		}
		return fmt.Errorf("take snapshot %d: %w", height, err)
	}
	size, err := dirSize(s.fs, final)
	if err != nil {
		return fmt.Errorf("take snapshot %d: %w", height, err)
	}
	sn := &snapshot{height: height, dir: final, manifest: manifest, size: size}
	s.mu.Lock()
	s.snaps = append(s.snaps, sn)
	slices.SortFunc(s.snaps, func(a, b *snapshot) int { return -cmpUint64(a.height, b.height) })
	doomed := s.prune()
	s.mu.Unlock()
	for _, d := range doomed {
		s.remove(d)
	}
	return nil
}

// prune drops from the list the snapshots beyond keep, then the oldest
// while the total size exceeds maxBytes (never the newest). It returns
// those that no reader holds, for the caller to remove outside the lock;
// the others wait for their last reader. Called with mu held.
func (s *Snapshots) prune() []*snapshot {
	kept := s.snaps
	var dropped []*snapshot
	if len(kept) > s.keep {
		dropped = append(dropped, kept[s.keep:]...)
		kept = kept[:s.keep]
	}
	if s.maxBytes > 0 {
		var total int64
		for _, sn := range kept {
			total += sn.size
		}
		for len(kept) > 1 && total > s.maxBytes {
			oldest := kept[len(kept)-1]
			total -= oldest.size
			dropped = append(dropped, oldest)
			kept = kept[:len(kept)-1]
		}
	}
	s.snaps = slices.Clip(kept)
	var doomed []*snapshot
	for _, sn := range dropped {
		sn.pruned = true
		if sn.refs > 0 {
			s.held[sn] = true
		} else {
			doomed = append(doomed, sn)
		}
	}
	return doomed
}

// remove closes a pruned snapshot's DB and deletes its folder, manifest
// first (a folder without manifest is a leftover for OpenSnapshots).
func (s *Snapshots) remove(sn *snapshot) {
	err := sn.closeDB()
	if rmErr := s.fs.Remove(s.fs.PathJoin(sn.dir, manifestFile)); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		err = errors.Join(err, rmErr)
	}
	err = errors.Join(err, s.fs.RemoveAll(sn.dir))
	if err != nil {
		s.logger.Warn("could not delete a pruned snapshot", "dir", sn.dir, "err", err)
		return
	}
	s.logger.Debug("snapshot pruned", "height", sn.height)
}

// List returns the snapshots, newest first.
func (s *Snapshots) List() []SnapshotInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SnapshotInfo, len(s.snaps))
	for i, sn := range s.snaps {
		out[i] = SnapshotInfo{Height: sn.height, Manifest: bytes.Clone(sn.manifest)}
	}
	return out
}

// Close closes every snapshot's DB (it waits for reads under way; readers
// still open then answer ErrClosed) and deletes the pruned snapshots
// that readers held. Closing again does nothing.
func (s *Snapshots) Close() error {
	s.takeMu.Lock()
	defer s.takeMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	open, held := s.snaps, s.held
	s.held = map[*snapshot]bool{}
	s.mu.Unlock()
	var err error
	for _, sn := range open {
		err = errors.Join(err, sn.closeDB())
	}
	for sn := range held {
		s.remove(sn)
	}
	s.cache.Unref()
	return err
}

// writeSynced creates path with data and fsyncs it.
func writeSynced(fs vfs.FS, path string, data []byte) error {
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// syncDir fsyncs a folder, so that the names created in it are durable.
func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
