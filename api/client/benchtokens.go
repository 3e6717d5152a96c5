package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cocorico/node/api/registrarapi"
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

type voterToken struct {
	key       ed25519.PrivateKey
	tok       ballot.Token
	registrar uint8
}

// tokensFor returns the voters' tokens: from cfg.Tokens when that file
// exists, else from the registrar (and then written to cfg.Tokens).
func tokensFor(ctx context.Context, cfg BenchConfig, b *ballot.Ballot, progress func(string, int, int)) ([]voterToken, int, error) {
	if cfg.Tokens != "" {
		toks, found, err := loadTokens(cfg.Tokens, b.ID, cfg.Voters)
		if found || err != nil {
			return toks, 0, err
		}
	}
	toks, skipped, err := benchTokens(ctx, cfg, b, progress)
	if err == nil && cfg.Tokens != "" {
		if err = saveTokens(cfg.Tokens, b.ID, toks); err != nil {
			err = fmt.Errorf("bench: keep the tokens: %w", err)
		}
	}
	return toks, skipped, err
}

// benchTokens takes a token for each of the first cfg.Voters voters of the
// roll; voters who already have one (an earlier run) are skipped.
func benchTokens(ctx context.Context, cfg BenchConfig, b *ballot.Ballot, progress func(string, int, int)) ([]voterToken, int, error) {
	idx, err := registrarIndex(b, cfg.Registrar.URL())
	if err != nil {
		return nil, 0, err
	}
	out := make([]*voterToken, len(cfg.Roll))
	var done, skipped, asking atomic.Int64
	finished := make(chan struct{}, cfg.Concurrency) // a request ended
	var firstErr error
	var mu sync.Mutex
	var rmu sync.Mutex // the random source is not safe for concurrent use
	var wg sync.WaitGroup
	next := make(chan int)
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				seed := make([]byte, ed25519.SeedSize)
				var key ed25519.PrivateKey
				var tr *ballot.TokenRequest
				rmu.Lock()
				_, err := io.ReadFull(cfg.Rand, seed)
				if err == nil {
					key = ed25519.NewKeyFromSeed(seed)
					tr, err = ballot.NewTokenRequest(cfg.Rand, b.Keys[idx], b.ID, key.Public().(ed25519.PublicKey))
				}
				rmu.Unlock()
				var sig []byte
				if err == nil {
					sig, err = cfg.Registrar.Token(ctx, registrarapi.TokenRequest{BallotID: b.ID,
						VoterID: cfg.Roll[i].VoterID, Code: cfg.Roll[i].Code, Blinded: tr.Blinded})
				}
				if err == nil {
					done.Add(1) // counted before the request ends: the walk asks no voter too many
				}
				asking.Add(-1)
				select {
				case finished <- struct{}{}:
				default:
				}
				if IsCode(err, "already_issued") {
					skipped.Add(1)
					continue
				}
				var tok ballot.Token
				if err == nil {
					tok, err = tr.Finalize(sig)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("token of %s: %w", cfg.Roll[i].VoterID, err)
					}
					mu.Unlock()
					continue
				}
				out[i] = &voterToken{key: key, tok: tok, registrar: uint8(idx)}
				if n := done.Load(); n%100 == 0 {
					progress("tokens", int(n), cfg.Voters)
				}
			}
		}()
	}
	// Walk the roll until enough voters have a token: voters of an
	// earlier run (who have one already) are skipped. A voter is asked
	// only while the tokens taken and the requests under way are fewer
	// than needed: each token asked is spent, whether the bench uses it
	// or not (it took up to its concurrency more than needed before).
walk:
	for i := range cfg.Roll {
		for int(done.Load()+asking.Load()) >= cfg.Voters {
			if int(done.Load()) >= cfg.Voters {
				break walk
			}
			select {
			case <-finished:
			case <-ctx.Done():
				break walk
			}
		}
		if ctx.Err() != nil {
			break
		}
		asking.Add(1)
		next <- i
	}
	close(next)
	wg.Wait()
	progress("tokens", cfg.Voters, cfg.Voters)
	if firstErr != nil {
		return nil, 0, firstErr
	}
	var toks []voterToken
	for _, t := range out {
		if t != nil && len(toks) < cfg.Voters {
			toks = append(toks, *t)
		}
	}
	return toks, int(skipped.Load()), ctx.Err()
}
