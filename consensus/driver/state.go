package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/cocorico/node/consensus"
)

// Storage keeps a validator's hard state: the write-ahead record of the
// last messages it signed (as etcd raft's Storage, the driver calls it
// and the implementation owns the bytes). FileStorage is the real one;
// MemoryStorage is for tests and simulations.
type Storage interface {
	// Load returns the hard state last saved; found is false when none
	// ever was (a new validator, or a lost file: the node tells which,
	// docs/OPERATIONS.md §Start-up checks). A state that cannot be read
	// is ErrStateCorrupt.
	Load() (hs consensus.HardState, found bool, err error)
	// Save makes hs durable before it returns: the driver sends no
	// message of the Ready that carries hs before. After a crash during
	// Save, Load returns hs or the state saved before it, never a mix.
	// The driver stops after a failed Save.
	Save(hs *consensus.HardState) error
}

// ErrStateCorrupt: the hard state on disk cannot be read. Starting
// without it could make the validator sign two different votes for one
// step, so the driver refuses to start.
var ErrStateCorrupt = errors.New("consensus state file corrupt")

// The hard state lives in two files of the state folder:
//
//	consensus_state.json   the HardState (lock, valid round, last signed step and votes)
//	valid_block.cbor       the block of the valid value, rewritten only when it changes
//
// Both are replaced atomically: write a temporary file, fsync it, rename
// it over the old one, fsync the folder. The block file is written
// before the state that names it.
const (
	stateFile = "consensus_state.json"
	blockFile = "valid_block.cbor"
)

// FileStorage keeps the hard state in a folder, through FS.
type FileStorage struct {
	fs        FS
	dir       string
	blockHash consensus.Hash // hash of the block in blockFile
}

var _ Storage = (*FileStorage)(nil)

// NewFileStorage returns the storage of the folder dir on fsys (OSFS
// when nil), creating the folder.
func NewFileStorage(fsys FS, dir string) (*FileStorage, error) {
	if fsys == nil {
		fsys = OSFS{}
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, err
	}
	return &FileStorage{fs: fsys, dir: dir}, nil
}

// Path returns the state file's path (for messages to the operator).
func (s *FileStorage) Path() string { return filepath.Join(s.dir, stateFile) }

// Load implements Storage.
func (s *FileStorage) Load() (consensus.HardState, bool, error) {
	var hs consensus.HardState
	data, err := s.fs.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return hs, false, nil
	}
	if err != nil {
		return hs, false, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hs); err != nil {
		return hs, false, fmt.Errorf("%w: %s: %v (it records the last vote this validator signed: restore it from a backup of this very validator, or ask the operators before starting with a new one)", ErrStateCorrupt, s.Path(), err)
	}
	if hs.ValidHash.IsZero() {
		return hs, true, nil
	}
	raw, err := s.fs.ReadFile(filepath.Join(s.dir, blockFile))
	if err != nil {
		// Without the block the validator stays safe (it keeps its lock)
		// but cannot propose the block again.
		return hs, true, nil
	}
	b, err := consensus.DecodeBlock(raw)
	if err == nil && b.Hash() == hs.ValidHash {
		hs.ValidBlock = b
		s.blockHash = hs.ValidHash
	}
	return hs, true, nil
}

// Save implements Storage: the block first if it changed, then the state.
func (s *FileStorage) Save(hs *consensus.HardState) error {
	if hs.ValidBlock != nil && hs.ValidHash != s.blockHash {
		if err := s.writeAtomic(blockFile, hs.ValidBlock.Encode()); err != nil {
			return err
		}
		s.blockHash = hs.ValidHash
	}
	data, err := json.Marshal(hs)
	if err != nil {
		return err
	}
	return s.writeAtomic(stateFile, data)
}

func (s *FileStorage) writeAtomic(name string, data []byte) error {
	return WriteFileAtomic(s.fs, filepath.Join(s.dir, name), data, 0o600)
}

// MemoryStorage keeps the hard state in memory.
type MemoryStorage struct {
	mu    sync.Mutex
	hs    consensus.HardState
	found bool
}

var _ Storage = (*MemoryStorage)(nil)

// Load implements Storage.
func (m *MemoryStorage) Load() (consensus.HardState, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hs, m.found, nil
}

// Save implements Storage; it keeps a copy of hs.
func (m *MemoryStorage) Save(hs *consensus.HardState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hs, m.found = *hs, true
	m.hs.Votes = append([]*consensus.Vote(nil), hs.Votes...)
	return nil
}
