package node

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"time"

	"github.com/cocorico/node/consensus"
)

// ChainSpec describes a new chain: `cocorico testnet` and `cocorico
// devnet` both make their genesis from one.
type ChainSpec struct {
	ChainID string
	// Validators are the validators' homes, in index order; each is named
	// after its folder and gets a node key if it has none.
	Validators []Home
	// App are the ballot rules; zero: consensus.DefaultAppParams. Its
	// organizers, if any, are kept; with none, the key at OrganizerKey
	// (made if missing) is the chain's organizer.
	App          consensus.AppParams
	OrganizerKey string
	// Now is the genesis time, to the millisecond; zero: the clock's.
	Now time.Time
}

// NewGenesis makes the validators' keys and the genesis of a new chain.
// Its time is now: the same spec made again is another chain (another
// genesis hash), whatever its name.
func NewGenesis(spec ChainSpec) (*consensus.Genesis, error) {
	if spec.Now.IsZero() {
		spec.Now = time.Now()
	}
	if spec.App.MaxCastsPerVoter == 0 {
		spec.App = consensus.DefaultAppParams()
	}
	g := &consensus.Genesis{ChainID: spec.ChainID, GenesisTime: time.UnixMilli(spec.Now.UnixMilli()).UTC(),
		Params: consensus.DefaultParams(), App: spec.App}
	if len(g.App.Organizers) == 0 {
		if err := os.MkdirAll(filepath.Dir(spec.OrganizerKey), 0o700); err != nil {
			return nil, err
		}
		org, _, err := LoadOrCreateKey(spec.OrganizerKey)
		if err != nil {
			return nil, err
		}
		g.App.Organizers = []consensus.Organizer{{Name: "organizer", PubKey: org.Public().(ed25519.PublicKey)}}
	}
	for _, h := range spec.Validators {
		if err := os.MkdirAll(string(h), 0o700); err != nil {
			return nil, err
		}
		k, _, err := LoadOrCreateKey(h.KeyPath())
		if err != nil {
			return nil, err
		}
		g.Validators = append(g.Validators, consensus.Validator{Name: filepath.Base(string(h)), PubKey: k.Public().(ed25519.PublicKey)})
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}
