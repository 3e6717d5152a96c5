package consensus

import (
	"crypto/ed25519"
	"fmt"
	"time"
)

// testChain returns a genesis of n validators with deterministic keys.
func testChain(n int) (*Genesis, []ed25519.PrivateKey) {
	keys := make([]ed25519.PrivateKey, n)
	vals := make([]Validator, n)
	for i := range keys {
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = byte(i + 1)
		keys[i] = ed25519.NewKeyFromSeed(seed)
		vals[i] = Validator{Name: fmt.Sprintf("v%d", i), PubKey: keys[i].Public().(ed25519.PublicKey)}
	}
	g := &Genesis{ChainID: "test-chain", GenesisTime: time.UnixMilli(1_700_000_000_000).UTC(), Validators: vals, Params: DefaultParams(), App: DefaultAppParams()}
	g.App.Organizers = []Organizer{{Name: "organizer", PubKey: vals[0].PubKey}}
	if err := g.Validate(); err != nil {
		panic(err)
	}
	return g, keys
}

func precommit(g *Genesis, keys []ed25519.PrivateKey, i int, height uint64, round uint32, block Hash) *Vote {
	v := &Vote{Type: Precommit, Height: height, Round: round, BlockHash: block, Validator: uint16(i)}
	v.Sign(g.Chain(), keys[i])
	return v
}
