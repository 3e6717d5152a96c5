package consensus

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/cocorico/node/consensus/canon"
)

// Genesis is the founding document of a chain: its id, start time,
// validators and parameters. Its Hash is the chain's identity: every node of
// a chain has the same genesis file, byte for byte in meaning.
type Genesis struct {
	ChainID     string      `json:"chain_id"`
	GenesisTime time.Time   `json:"genesis_time"`
	Validators  []Validator `json:"validators"`
	Params      Params      `json:"params"`
	// App are the ballot application's rules that the genesis fixes:
	// consensus carries them (they are part of the chain's identity) and
	// checks their ranges, but does not read them.
	App AppParams `json:"app"`
}

// AppParams are the rules of the ballot application (docs/PROTOCOL.md
// §Genesis): who may create ballots, and how often a voter key may cast.
// Without fees, these bounds are what makes spam cost something.
type AppParams struct {
	// Organizers are the keys whose signed ballot definitions the chain
	// accepts; any other organizer's definition is refused.
	Organizers []Organizer `cbor:"1,keyasint" json:"organizers"`
	// MaxCastsPerVoter bounds the casts of one voter key in one ballot
	// (the first vote and its re-votes).
	MaxCastsPerVoter int `cbor:"2,keyasint" json:"max_casts_per_voter"`
	// RevoteIntervalMs is the least block time between two casts of one
	// voter key in one ballot.
	RevoteIntervalMs int64 `cbor:"3,keyasint" json:"revote_interval_ms"`
}

// Organizer is a key allowed to create ballots, with a name for people.
type Organizer struct {
	Name   string            `cbor:"1,keyasint" json:"name"`
	PubKey ed25519.PublicKey `cbor:"2,keyasint" json:"pub_key"`
}

// DefaultAppParams are the rules `cocorico testnet` and `devnet` write,
// organizers aside: 16 casts per voter key and ballot, 2 s apart.
func DefaultAppParams() AppParams {
	return AppParams{MaxCastsPerVoter: 16, RevoteIntervalMs: 2000}
}

// Bounds of the application's parameters.
const (
	MaxOrganizers       = 256
	MaxCastsPerVoterCap = 1000
	MaxRevoteIntervalMs = 24 * 60 * 60 * 1000
)

// Validate checks the application's parameters.
func (a AppParams) Validate() error {
	if n := len(a.Organizers); n < 1 || n > MaxOrganizers {
		return fmt.Errorf("%d organizers, want 1 to %d", n, MaxOrganizers)
	}
	seen := make(map[string]bool, len(a.Organizers))
	for i, o := range a.Organizers {
		if o.Name == "" || len(o.Name) > 64 {
			return fmt.Errorf("organizer %d: name must have 1 to 64 bytes", i)
		}
		if len(o.PubKey) != ed25519.PublicKeySize {
			return fmt.Errorf("organizer %d: key of %d bytes, want %d", i, len(o.PubKey), ed25519.PublicKeySize)
		}
		if seen[string(o.PubKey)] {
			return fmt.Errorf("organizer %d: duplicate key", i)
		}
		seen[string(o.PubKey)] = true
	}
	switch {
	case a.MaxCastsPerVoter < 1 || a.MaxCastsPerVoter > MaxCastsPerVoterCap:
		return fmt.Errorf("max_casts_per_voter %d not in 1..%d", a.MaxCastsPerVoter, MaxCastsPerVoterCap)
	case a.RevoteIntervalMs < 0 || a.RevoteIntervalMs > MaxRevoteIntervalMs:
		return fmt.Errorf("revote_interval_ms %d not in 0..%d", a.RevoteIntervalMs, MaxRevoteIntervalMs)
	}
	return nil
}

// IsOrganizer reports whether pub may create ballots.
func (a AppParams) IsOrganizer(pub []byte) bool {
	for _, o := range a.Organizers {
		if o.PubKey.Equal(ed25519.PublicKey(pub)) {
			return true
		}
	}
	return false
}

// Params are the chain's rules that the genesis fixes. Durations are in
// milliseconds so that they read the same in JSON and in canonical bytes.
type Params struct {
	// MaxBlockTxs bounds the number of transactions in a block.
	MaxBlockTxs int `cbor:"1,keyasint" json:"max_block_txs"`
	// MaxBlockBytes bounds the sum of the transactions' sizes in a block.
	MaxBlockBytes int `cbor:"2,keyasint" json:"max_block_bytes"`
	// MaxTxBytes bounds the size of one transaction.
	MaxTxBytes int `cbor:"3,keyasint" json:"max_tx_bytes"`
	// TimeoutProposeMs and TimeoutProposeDeltaMs: how long a validator
	// waits for the proposal of round r: Propose + r·Delta.
	TimeoutProposeMs      int64 `cbor:"4,keyasint" json:"timeout_propose_ms"`
	TimeoutProposeDeltaMs int64 `cbor:"5,keyasint" json:"timeout_propose_delta_ms"`
	// TimeoutVoteMs and TimeoutVoteDeltaMs: how long a validator waits
	// after seeing a quorum of mixed prevotes or precommits.
	TimeoutVoteMs      int64 `cbor:"6,keyasint" json:"timeout_vote_ms"`
	TimeoutVoteDeltaMs int64 `cbor:"7,keyasint" json:"timeout_vote_delta_ms"`
	// BlockIntervalMs is the least time between two blocks: casts that
	// arrive meanwhile are batched into the next one.
	BlockIntervalMs int64 `cbor:"8,keyasint" json:"block_interval_ms"`
	// HeartbeatMs is the most time without a block: when nothing is
	// pending, an empty block is made this often so that block time (and
	// with it the opening and closing of ballots) moves on.
	HeartbeatMs int64 `cbor:"9,keyasint" json:"heartbeat_ms"`
	// MaxClockDriftMs bounds how far in the future of a validator's clock
	// a proposed block time may be.
	MaxClockDriftMs int64 `cbor:"10,keyasint" json:"max_clock_drift_ms"`
}

// DefaultParams are the parameters `cocorico testnet` and `devnet` write.
func DefaultParams() Params {
	return Params{
		MaxBlockTxs:           5000,
		MaxBlockBytes:         12 << 20,
		MaxTxBytes:            8 << 10,
		TimeoutProposeMs:      1500,
		TimeoutProposeDeltaMs: 500,
		TimeoutVoteMs:         500,
		TimeoutVoteDeltaMs:    500,
		BlockIntervalMs:       250,
		HeartbeatMs:           10000,
		MaxClockDriftMs:       5000,
	}
}

// MaxBlockBytesLimit bounds max_block_bytes: a proposal carries its
// block in one gossip message of at most 16 MiB (p2p.MaxMessage, the
// pubsub envelope included), and a block of 14 MiB with 100,000
// transactions' heads (9 bytes each at most), its header and the
// proposal's fields fits it; a larger block could be made but never
// proposed.
const MaxBlockBytesLimit = 14 << 20

// Validate checks the parameters' ranges.
func (p Params) Validate() error {
	switch {
	case p.MaxBlockTxs < 1 || p.MaxBlockTxs > 100000:
		return fmt.Errorf("max_block_txs %d not in 1..100000", p.MaxBlockTxs)
	case p.MaxTxBytes < 256 || p.MaxTxBytes > 1<<20:
		return fmt.Errorf("max_tx_bytes %d not in 256..1048576", p.MaxTxBytes)
	case p.MaxBlockBytes < p.MaxTxBytes || p.MaxBlockBytes > MaxBlockBytesLimit:
		return fmt.Errorf("max_block_bytes %d not in max_tx_bytes..%d (14 MiB)", p.MaxBlockBytes, MaxBlockBytesLimit)
	case p.TimeoutProposeMs <= 0 || p.TimeoutProposeDeltaMs < 0 || p.TimeoutVoteMs <= 0 || p.TimeoutVoteDeltaMs < 0:
		return errors.New("timeouts must be positive")
	case p.BlockIntervalMs < 0 || p.HeartbeatMs < p.BlockIntervalMs || p.HeartbeatMs <= 0:
		return errors.New("block_interval_ms must be ≥ 0 and heartbeat_ms > 0 and ≥ block_interval_ms")
	case p.MaxClockDriftMs <= 0:
		return errors.New("max_clock_drift_ms must be positive")
	}
	return nil
}

var chainIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Validate checks g against docs/PROTOCOL.md §Genesis.
func (g *Genesis) Validate() error {
	if !chainIDPattern.MatchString(g.ChainID) {
		return fmt.Errorf("%w: chain_id %q: want 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit", ErrGenesisInvalid, g.ChainID)
	}
	if g.GenesisTime.IsZero() {
		return fmt.Errorf("%w: genesis_time missing", ErrGenesisInvalid)
	}
	if _, offset := g.GenesisTime.Zone(); offset != 0 {
		return fmt.Errorf("%w: genesis_time must be in UTC, written with Z", ErrGenesisInvalid)
	}
	if !g.GenesisTime.Equal(time.UnixMilli(g.GenesisTime.UnixMilli())) {
		return fmt.Errorf("%w: genesis_time must be a whole number of milliseconds", ErrGenesisInvalid)
	}
	if _, err := NewValidatorSet(g.Validators); err != nil {
		return err
	}
	for i, v := range g.Validators {
		if v.Name == "" || len(v.Name) > 64 {
			return fmt.Errorf("%w: validator %d: name must have 1 to 64 bytes", ErrGenesisInvalid, i)
		}
	}
	if err := g.Params.Validate(); err != nil {
		return fmt.Errorf("%w: params: %v", ErrGenesisInvalid, err)
	}
	if err := g.App.Validate(); err != nil {
		return fmt.Errorf("%w: app: %v", ErrGenesisInvalid, err)
	}
	return nil
}

// ValidatorSet returns the genesis validators as a set. The genesis must be valid.
func (g *Genesis) ValidatorSet() *ValidatorSet {
	vs, err := NewValidatorSet(g.Validators)
	if err != nil {
		panic(fmt.Sprintf("consensus: ValidatorSet of an invalid genesis: %v", err))
	}
	return vs
}

// genesisDoc is the canonical form of a genesis, the one its hash covers.
type genesisDoc struct {
	ChainID     string      `cbor:"1,keyasint"`
	GenesisTime int64       `cbor:"2,keyasint"` // Unix milliseconds
	Validators  []Validator `cbor:"3,keyasint"`
	Params      Params      `cbor:"4,keyasint"`
	App         AppParams   `cbor:"5,keyasint"`
}

// DomainGenesis separates the genesis hash from every other hash.
const DomainGenesis = "cocorico/v1/genesis"

// Hash returns SHA-256("cocorico/v1/genesis" ‖ canonical bytes of g): the
// chain's identity, and the parent hash of block 1.
func (g *Genesis) Hash() Hash {
	doc := genesisDoc{g.ChainID, g.GenesisTime.UnixMilli(), g.Validators, g.Params, g.App}
	return Sum([]byte(DomainGenesis), canon.MustMarshal(doc))
}

// MaxGenesisBytes bounds a genesis file.
const MaxGenesisBytes = 1 << 20

// ParseGenesis decodes and validates a genesis from JSON, with the
// protocol's one strict decoder (docs/PROTOCOL.md §1): genesis_time, for
// one, has a single written form (UTC, "Z", RFC3339Nano's fraction).
func ParseGenesis(data []byte) (*Genesis, error) {
	var g Genesis
	if err := canon.DecodeJSON(data, &g, MaxGenesisBytes); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGenesisInvalid, err)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// JSON returns g as indented JSON, the form of a genesis.json file.
func (g *Genesis) JSON() []byte {
	out, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		panic(err) // a Genesis always encodes
	}
	return append(out, '\n')
}
