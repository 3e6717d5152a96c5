package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cocorico/node/consensus"
)

// The hard state lives in two files of StateDir:
//
//	consensus_state.json   the HardState (lock, valid round, last signed step and votes)
//	valid_block.cbor       the block of the valid value, rewritten only when it changes
//
// Both are replaced atomically: write a temporary file, fsync it, rename
// it over the old one, fsync the directory. The block file is written
// before the state that names it.
const (
	stateFile = "consensus_state.json"
	blockFile = "valid_block.cbor"
)

// ErrStateCorrupt: the hard state on disk cannot be read. Starting
// without it could make the validator sign two different votes for one
// step, so the driver refuses to start.
var ErrStateCorrupt = errors.New("consensus state file corrupt")

type stateStore struct {
	dir       string
	blockHash consensus.Hash // hash of the block in blockFile
}

// load reads the hard state (the zero state when there is none).
func (s *stateStore) load() (consensus.HardState, error) {
	var hs consensus.HardState
	data, err := os.ReadFile(filepath.Join(s.dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return hs, nil
	}
	if err != nil {
		return hs, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hs); err != nil {
		return hs, fmt.Errorf("%w: %s: %v (it records the last vote this validator signed: restore it from a backup of this very validator, or ask the operators before starting with a new one)", ErrStateCorrupt, filepath.Join(s.dir, stateFile), err)
	}
	if hs.ValidHash.IsZero() {
		return hs, nil
	}
	raw, err := os.ReadFile(filepath.Join(s.dir, blockFile))
	if err != nil {
		// Without the block the validator stays safe (it keeps its lock)
		// but cannot propose the block again.
		return hs, nil
	}
	b, err := consensus.DecodeBlock(raw)
	if err == nil && b.Hash() == hs.ValidHash {
		hs.ValidBlock = b
		s.blockHash = hs.ValidHash
	}
	return hs, nil
}

// save writes hs durably: the block first if it changed, then the state.
func (s *stateStore) save(hs *consensus.HardState) error {
	if hs.ValidBlock != nil && hs.ValidHash != s.blockHash {
		if err := writeAtomic(s.dir, blockFile, hs.ValidBlock.Encode()); err != nil {
			return err
		}
		s.blockHash = hs.ValidHash
	}
	data, err := json.Marshal(hs)
	if err != nil {
		return err
	}
	return writeAtomic(s.dir, stateFile, data)
}

func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
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
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
