package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The disk reserve (docs/OPERATIONS.md §Start-up checks):
// a store (the ledger, the registrar's registry) keeps a file of
// reserve bytes allocated but empty beside its tables, "RESERVE". When a
// write of the store finds the disk full, Pebble calls onFull before it
// tries that write once more: the reserve is deleted, so the write under
// way completes (Pebble panics when it cannot start its next log file),
// and the process stops with a clear message. The store then refuses
// every further write, and opening it again refuses a disk where the
// reserve cannot be allocated again: the operator frees space, and the
// node starts where it stopped. CockroachDB's "ballast file" is the same
// idea.

// reserveName is the reserve's file in the store's folder; not one of
// Pebble's names (pebbleFiles), so a folder holding only it is new.
const reserveName = "RESERVE"

// DefaultReserveBytes is the reserve a store keeps unless told otherwise:
// two of the ledger's default memtables (a flush of one writes up to its
// size while the next block's log is written).
const DefaultReserveBytes = 64 << 20

// ErrDiskFull: a store's disk is full; it reads
// "disk full: no space left on device" as the system's own error does.
var ErrDiskFull = fmt.Errorf("disk full: %w", syscall.ENOSPC)

// diskReserve is one store's reserve.
type diskReserve struct {
	what   string // "ledger", "registry": for the messages
	size   int64  // <= 0: none
	fs     vfs.FS // the file system the store lives on, unwrapped
	logger *slog.Logger
	fatal  func(msg string) // must not return; called on its own goroutine
	path   string           // the reserve file, "" without one
	full   atomic.Bool      // set once a write found the disk full
}

// keep allocates the reserve file in dir (again: allocating what is
// already allocated costs nothing). A disk with less room than the
// reserve, or with less than a quarter of it free besides, is
// ErrDiskFull, saying how much was free.
func (r *diskReserve) keep(dir string) error {
	if r.size <= 0 {
		return nil
	}
	if err := r.fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := r.fs.PathJoin(dir, reserveName)
	f, err := r.fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("%s reserve %s: %w", r.what, path, err)
	}
	err = f.Preallocate(0, r.size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	free := func() string {
		if u, uerr := r.fs.GetDiskUsage(dir); uerr == nil {
			return fmt.Sprintf("%.1f MiB", float64(u.AvailBytes)/(1<<20))
		}
		return "unknown"
	}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w: %s free in %s, the %s keeps %d MiB in reserve there (%s) to stop cleanly when its disk fills: free some space, then start the node again",
			ErrDiskFull, free(), dir, r.what, r.size>>20, reserveName)
	case errors.Is(err, errors.ErrUnsupported):
		// A file system without fallocate: no reserve, as before it.
		r.logger.Warn("the disk does not allocate files ahead: no reserve for a full disk", "store", r.what, "dir", dir, "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("%s reserve %s: %w", r.what, path, err)
	}
	// Room for the reserve and nothing else (the disk filled, the
	// reserve was released, nothing was freed): the store would fill it
	// again at its first writes and stop at once; refused instead.
	if u, uerr := r.fs.GetDiskUsage(dir); uerr == nil && u.AvailBytes < uint64(r.size)/4 {
		return fmt.Errorf("%w: %s free in %s besides the %d MiB the %s keeps in reserve there (%s), less than the %d MiB it needs to go on: free some space, then start the node again",
			ErrDiskFull, free(), dir, r.size>>20, r.what, reserveName, r.size>>22)
	}
	r.path = path
	return nil
}

// wrap returns the file system Pebble gets: r's, calling onFull on ENOSPC.
func (r *diskReserve) wrap() vfs.FS { return vfs.OnDiskFull(r.fs, r.onFull) }

// onFull is Pebble's callback when a write of the store finds no space
// (vfs.OnDiskFull): the reserve goes, so that the write completes, every
// later write of the store is refused, and the process stops (fatal, on
// its own goroutine: Pebble holds its writes until this returns).
func (r *diskReserve) onFull() {
	if r.full.Swap(true) || r.path == "" {
		return
	}
	released := "was released"
	if err := r.fs.Remove(r.path); err != nil {
		released = fmt.Sprintf("could not be released (%v)", err)
	}
	msg := fmt.Sprintf("%s %v: its %d MiB reserve %s so that the write under way completes; free some space, then start the node again",
		r.what, ErrDiskFull, r.size>>20, released)
	r.logger.Error("storage failure: the node stops", "component", "store", "err", msg)
	go r.fatal(msg)
}

// commit commits b, synced or not as o says, unless a write already
// found the disk full: every write of a store goes through it, so that
// none reaches Pebble once the reserve is gone.
func (r *diskReserve) commit(b *pebble.Batch, o *pebble.WriteOptions) error {
	if r.full.Load() {
		return fmt.Errorf("%s %w", r.what, ErrDiskFull)
	}
	return b.Commit(o)
}
