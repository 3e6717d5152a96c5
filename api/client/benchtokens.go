package client

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// A bench's tokens can be kept in a file (BenchConfig.Tokens), so that the
// timed window can be run again on a copy of the same devnet without
// asking the registrar again: at a million voters the tokens take far
// longer than the casts (the registrar makes one RSA signature each).
//
// The file is the bench's own: a magic line, the ballot id (32 bytes),
// then one record per voter: the voter key's Ed25519 seed (32 bytes), the
// registrar's index in the ballot (1 byte), the token's prefix
// (ballot.TokenPrefixSize bytes), the signature's length (2 bytes, big
// endian) and the signature. It holds the voters' private keys: it is
// written readable by its owner only.
const tokensMagic = "cocorico bench tokens 1\n"

// errTokensFile is the error of a token file that is not one, or not of
// this ballot.
var errTokensFile = errors.New("bench tokens file")

// loadTokens reads up to n voters' tokens for ballot id from path; found
// is false when there is no such file.
func loadTokens(path string, id consensus.Hash, n int) (toks []voterToken, found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	head := make([]byte, len(tokensMagic)+len(id))
	if _, err := io.ReadFull(r, head); err != nil || string(head[:len(tokensMagic)]) != tokensMagic {
		return nil, true, fmt.Errorf("%w %s: not a file of tokens written by cocorico bench", errTokensFile, path)
	}
	if !bytes.Equal(head[len(tokensMagic):], id[:]) {
		return nil, true, fmt.Errorf("%w %s: the tokens of ballot %x, not of %s (a file is for the devnet it was made on, or a copy of it)",
			errTokensFile, path, head[len(tokensMagic):], id)
	}
	fixed := make([]byte, ed25519.SeedSize+1+ballot.TokenPrefixSize+2)
	for len(toks) < n {
		if _, err := io.ReadFull(r, fixed); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, true, fmt.Errorf("%w %s: record %d: %v", errTokensFile, path, len(toks), err)
		}
		seed, reg, prefix := fixed[:ed25519.SeedSize], fixed[ed25519.SeedSize], fixed[ed25519.SeedSize+1:len(fixed)-2]
		sig := make([]byte, binary.BigEndian.Uint16(fixed[len(fixed)-2:]))
		if _, err := io.ReadFull(r, sig); err != nil {
			return nil, true, fmt.Errorf("%w %s: record %d: %v", errTokensFile, path, len(toks), err)
		}
		toks = append(toks, voterToken{key: ed25519.NewKeyFromSeed(seed), registrar: reg,
			tok: ballot.Token{Prefix: bytes.Clone(prefix), Signature: sig}})
	}
	return toks, true, nil
}

// saveTokens writes the voters' tokens for ballot id to path (a new file:
// an existing one is not overwritten).
func saveTokens(path string, id consensus.Hash, toks []voterToken) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(tokensMagic)
	w.Write(id[:])
	for _, t := range toks {
		w.Write(t.key.Seed())
		w.WriteByte(t.registrar)
		w.Write(t.tok.Prefix)
		w.Write(binary.BigEndian.AppendUint16(nil, uint16(len(t.tok.Signature))))
		w.Write(t.tok.Signature)
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
