package driver

import (
	"os"
	"path/filepath"
	"syscall"
)

// FS is the part of a file system FileStorage uses, one method per step
// of an atomic replace, so that tests can fail or cut the power at each
// (docs/OPERATIONS.md §Start-up checks). OSFS is the real one.
type FS interface {
	ReadFile(name string) ([]byte, error)
	// CreateTemp creates a new file in dir (os.CreateTemp's pattern).
	CreateTemp(dir, pattern string) (File, error)
	Rename(from, to string) error
	Remove(name string) error
	// SyncDir makes the folder's entries (a rename) durable.
	SyncDir(dir string) error
	MkdirAll(dir string) error
}

// File is a file being written.
type File interface {
	Name() string
	Write(p []byte) (int, error)
	Chmod(mode os.FileMode) error
	Sync() error
	Close() error
}

// WriteFileAtomic writes data to path so that a crash or a power cut
// leaves the old file or the new one, whole: a temporary file in the same
// folder, written, given its mode, synced, renamed over path, and the
// folder synced so that the rename is durable. It is the project's one
// atomic file write: the consensus state, keys, genesis and config files,
// wallets and receipts all go through it.
func WriteFileAtomic(fs FS, path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := fs.MkdirAll(dir); err != nil {
		return err
	}
	f, err := fs.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer fs.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(f.Name(), path); err != nil {
		return err
	}
	return fs.SyncDir(dir)
}

// OSFS is the operating system's file system.
type OSFS struct{}

// ReadFile implements FS.
func (OSFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// CreateTemp implements FS.
func (OSFS) CreateTemp(dir, pattern string) (File, error) { return os.CreateTemp(dir, pattern) }

// Rename implements FS.
func (OSFS) Rename(from, to string) error { return os.Rename(from, to) }

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// MkdirAll implements FS: it creates the missing folders of dir, each
// with mode 0700, and syncs the folder holding each one it created, so
// that a power cut cannot lose a new folder's entry (a validator whose new
// consensus folder vanished that way would look new at its next start,
// and sign again where it had signed).
func (fs OSFS) MkdirAll(dir string) error {
	dir = filepath.Clean(dir)
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := fs.MkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return nil // made meanwhile by another
		}
		return err
	}
	return fs.SyncDir(parent)
}

// SyncDir implements FS.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
