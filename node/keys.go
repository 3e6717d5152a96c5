package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/consensus/canon"
)

// keyFile is the form of a key on disk (mode 0600).
type keyFile struct {
	Type      string `json:"type"`
	Seed      []byte `json:"seed"`
	PublicKey []byte `json:"public_key"`
}

// LoadKey reads an Ed25519 key file.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kf keyFile
	if err := canon.DecodeJSON(data, &kf, 4<<10); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if kf.Type != "ed25519" || len(kf.Seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key file %s: want an ed25519 seed of %d bytes", path, ed25519.SeedSize)
	}
	k := ed25519.NewKeyFromSeed(kf.Seed)
	if kf.PublicKey != nil && !k.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(kf.PublicKey)) {
		return nil, fmt.Errorf("key file %s: public key does not match the seed", path)
	}
	return k, nil
}

// SaveKey writes k to a new key file; it refuses to overwrite one.
func SaveKey(path string, k ed25519.PrivateKey) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("key file %s exists: refusing to overwrite a key", path)
	}
	data, err := json.MarshalIndent(keyFile{Type: "ed25519", Seed: k.Seed(), PublicKey: k.Public().(ed25519.PublicKey)}, "", "  ")
	if err != nil {
		return err
	}
	return client.WriteFileAtomic(path, append(data, '\n'), 0o600)
}

// LoadOrCreateKey reads the key file at path, or creates it with a fresh key.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, bool, error) {
	k, err := LoadKey(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	_, k, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	return k, true, SaveKey(path, k)
}
