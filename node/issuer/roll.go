package issuer

import (
	"context"
	"io"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/store"
)

// rollChunk is how many roll entries ImportRoll hashes and stores in one
// batch. The whole roll in one batch held every code hash twice (a map,
// then a Pebble batch of ~100 bytes a voter) on top of the parsed roll:
// a devnet of 200,000 voters peaked at 218 MB during the import and ran
// at 100 MB once it was done.
const rollChunk = 10_000

// ImportRoll hashes (registrar.HashCode) and stores the roll entries
// (registrar.ParseRoll) not stored yet, on every core, rollChunk at a
// time, and returns how many were added. Codes are never stored, only
// their salted hashes. rng must be safe for concurrent use
// (crypto/rand.Reader is). An import that fails keeps the chunks stored
// before the failure: run again, it adds the rest.
func ImportRoll(ctx context.Context, reg *store.Registry, entries []registrar.RollEntry, p registrar.HashParams, rng io.Reader) (int, error) {
	added := 0
	for len(entries) > 0 {
		n := min(len(entries), rollChunk)
		k, err := importChunk(ctx, reg, entries[:n], p, rng)
		added += k
		if err != nil {
			return added, err
		}
		entries = entries[n:]
	}
	return added, nil
}

func importChunk(ctx context.Context, reg *store.Registry, entries []registrar.RollEntry, p registrar.HashParams, rng io.Reader) (int, error) {
	todo := make([]registrar.RollEntry, 0, len(entries))
	for _, e := range entries {
		if has, err := reg.HasVoter(e.VoterID); err != nil {
			return 0, err
		} else if !has {
			todo = append(todo, e)
		}
	}
	hashed := make(map[string][]byte, len(todo))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, e := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			h, err := registrar.HashCode(rng, e.Code, p)
			if err != nil {
				return err
			}
			mu.Lock()
			hashed[e.VoterID] = h.Encode()
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return reg.PutVoters(hashed)
}
