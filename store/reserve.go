package store

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The disk reserve (docs/OPERATIONS.md §What a node refuses to start on):
// a ledger keeps a file of Options.ReserveBytes allocated but empty beside
// its tables, "RESERVE". When a write of the ledger finds the disk full,
// Pebble calls diskFull before it tries that write once more: the reserve
// is deleted, so the write under way completes (Pebble panics when it
// cannot start its next log file), and the node stops with a clear
// message. The ledger then refuses every further write, and Open refuses
// a ledger whose reserve it cannot allocate again: the operator frees
// space, and the node starts where it stopped. CockroachDB's "ballast
// file" is the same idea.

// reserveName is the reserve's file in the ledger's folder; not one of
// Pebble's names (pebbleFiles), so a folder holding only it is new.
const reserveName = "RESERVE"

// DefaultReserveBytes is the reserve a ledger keeps unless Options says
// otherwise: two of the default memtables (a flush of one writes up to
// its size while the next block's log is written).
const DefaultReserveBytes = 64 << 20

// ErrDiskFull: the ledger's disk is full; it reads
// "... no space left on device" as the system's own error does.
var ErrDiskFull = fmt.Errorf("ledger disk full: %w", syscall.ENOSPC)

// keepReserve allocates the reserve file in dir (again: allocating what
// is already allocated costs nothing), on the file system under the
// wrapper that watches for a full disk. A disk with less room than the
// reserve is ErrDiskFull, saying how much was free.
func (l *Ledger) keepReserve(fs vfs.FS, dir string) error {
	size := l.opts.ReserveBytes
	if size <= 0 {
		return nil
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := fs.PathJoin(dir, reserveName)
	f, err := fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("ledger reserve %s: %w", path, err)
	}
	err = f.Preallocate(0, size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		free := "unknown"
		if u, uerr := fs.GetDiskUsage(dir); uerr == nil {
			free = fmt.Sprintf("%.1f MiB", float64(u.AvailBytes)/(1<<20))
		}
		return fmt.Errorf("%w: %s free in %s, the ledger keeps %d MiB in reserve there (%s) to stop cleanly when its disk fills: free some space, then start the node again",
			ErrDiskFull, free, dir, size>>20, reserveName)
	case errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, errors.ErrUnsupported):
		// A file system without fallocate: no reserve, as before it.
		l.opts.Logger.Warn("the ledger's disk does not allocate files ahead: no reserve for a full disk", "dir", dir, "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("ledger reserve %s: %w", path, err)
	}
	l.reserve = path
	return nil
}

// diskFull is Pebble's callback when a write of the ledger finds no space
// (vfs.OnDiskFull): the reserve goes, so that the write completes, every
// later write of the ledger is refused, and the node stops
// (Options.Fatal, on its own goroutine: Pebble holds its writes until
// this returns).
func (l *Ledger) diskFull() {
	if l.full.Swap(true) || l.reserve == "" {
		return
	}
	released := "was released"
	if err := l.rawFS.Remove(l.reserve); err != nil {
		released = fmt.Sprintf("could not be released (%v)", err)
	}
	msg := fmt.Sprintf("%v: the ledger's %d MiB reserve %s so that the write under way completes; free some space, then start the node again",
		ErrDiskFull, l.opts.ReserveBytes>>20, released)
	l.opts.Logger.Error("storage failure: the node stops", "component", "store", "err", msg)
	go l.opts.Fatal(msg)
}

// writable refuses a write once the disk was found full.
func (l *Ledger) writable() error {
	if l.full.Load() {
		return ErrDiskFull
	}
	return nil
}
