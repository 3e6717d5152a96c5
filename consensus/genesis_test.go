package consensus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestGenesisJSONRoundTripKeepsTheHash(t *testing.T) {
	g, _ := testChain(4)
	back, err := ParseGenesis(g.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if back.Hash() != g.Hash() {
		t.Fatalf("hash changed through JSON: %s vs %s", back.Hash(), g.Hash())
	}
}

func TestGenesisHashCoversEveryField(t *testing.T) {
	g, _ := testChain(4)
	base := g.Hash()
	mutations := map[string]func(*Genesis){
		"chain id":  func(g *Genesis) { g.ChainID = "other" },
		"time":      func(g *Genesis) { g.GenesisTime = g.GenesisTime.Add(time.Millisecond) },
		"validator": func(g *Genesis) { g.Validators = g.Validators[:3] },
		"name":      func(g *Genesis) { g.Validators[0].Name = "renamed" },
		"params":    func(g *Genesis) { g.Params.MaxBlockTxs++ },
		"organizer": func(g *Genesis) { g.App.Organizers[0].PubKey = g.Validators[1].PubKey },
		"max casts": func(g *Genesis) { g.App.MaxCastsPerVoter++ },
		"interval":  func(g *Genesis) { g.App.RevoteIntervalMs++ },
	}
	for name, mutate := range mutations {
		c, _ := testChain(4)
		mutate(c)
		if c.Hash() == base {
			t.Errorf("%s: hash unchanged", name)
		}
	}
}

func TestInvalidGenesisIsRejected(t *testing.T) {
	cases := map[string]func(*Genesis){
		"bad chain id":      func(g *Genesis) { g.ChainID = "Has Spaces" },
		"no validators":     func(g *Genesis) { g.Validators = nil },
		"duplicate key":     func(g *Genesis) { g.Validators[1].PubKey = g.Validators[0].PubKey },
		"short key":         func(g *Genesis) { g.Validators[0].PubKey = g.Validators[0].PubKey[:31] },
		"empty name":        func(g *Genesis) { g.Validators[0].Name = "" },
		"zero time":         func(g *Genesis) { g.GenesisTime = time.Time{} },
		"sub-ms time":       func(g *Genesis) { g.GenesisTime = g.GenesisTime.Add(time.Microsecond) },
		"zero block txs":    func(g *Genesis) { g.Params.MaxBlockTxs = 0 },
		"negative timeout":  func(g *Genesis) { g.Params.TimeoutVoteMs = -1 },
		"heartbeat too low": func(g *Genesis) { g.Params.HeartbeatMs = g.Params.BlockIntervalMs - 1 },
		"no organizer":      func(g *Genesis) { g.App.Organizers = nil },
		"organizer twice":   func(g *Genesis) { g.App.Organizers = append(g.App.Organizers, g.App.Organizers[0]) },
		"no casts":          func(g *Genesis) { g.App.MaxCastsPerVoter = 0 },
		"negative interval": func(g *Genesis) { g.App.RevoteIntervalMs = -1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			g, _ := testChain(4)
			mutate(g)
			if err := g.Validate(); !errors.Is(err, ErrGenesisInvalid) {
				t.Fatalf("got %v, want ErrGenesisInvalid", err)
			}
		})
	}
}

func TestGenesisWithUnknownFieldIsRejected(t *testing.T) {
	g, _ := testChain(1)
	data := strings.Replace(string(g.JSON()), `"chain_id"`, `"surprise": 1, "chain_id"`, 1)
	if _, err := ParseGenesis([]byte(data)); !errors.Is(err, ErrGenesisInvalid) {
		t.Fatalf("got %v, want ErrGenesisInvalid", err)
	}
}

func TestGenesisWithTrailingDataIsRejected(t *testing.T) {
	g, _ := testChain(1)
	if _, err := ParseGenesis(append(g.JSON(), []byte("{}")...)); !errors.Is(err, ErrGenesisInvalid) {
		t.Fatalf("got %v, want ErrGenesisInvalid", err)
	}
}

func TestProposerRotatesByHeightAndRound(t *testing.T) {
	g, _ := testChain(4)
	vs := g.ValidatorSet()
	seen := map[uint16]bool{}
	for h := uint64(1); h <= 4; h++ {
		seen[vs.Proposer(h, 0)] = true
	}
	if len(seen) != 4 {
		t.Fatalf("4 heights had %d distinct proposers", len(seen))
	}
	if vs.Proposer(7, 0) == vs.Proposer(7, 1) {
		t.Fatal("a round change kept the proposer")
	}
}

// TestGenesisWithADuplicateKeyIsRefused: two nodes reading a genesis with
// a key twice could take different chains from it (encoding/json keeps
// the last); the file is refused.
func TestGenesisWithADuplicateKeyIsRefused(t *testing.T) {
	g, _ := testChain(1)
	for name, data := range map[string]string{
		"chain_id twice":  strings.Replace(string(g.JSON()), `"chain_id"`, `"chain_id": "other", "chain_id"`, 1),
		"a param twice":   strings.Replace(string(g.JSON()), `"max_block_txs"`, `"max_block_txs": 1, "max_block_txs"`, 1),
		"a time twice":    strings.Replace(string(g.JSON()), `"genesis_time"`, `"genesis_time": "2020-01-01T00:00:00Z", "genesis_time"`, 1),
		"escaped the 2nd": strings.Replace(string(g.JSON()), `"chain_id"`, `"chain_id": "other", "chain\u005fid"`, 1),
	} {
		if _, err := ParseGenesis([]byte(data)); !errors.Is(err, ErrGenesisInvalid) {
			t.Errorf("%s: got %v, want ErrGenesisInvalid", name, err)
		}
	}
}

// TestGenesisTimeHasOneWrittenForm: RFC 3339 in UTC with Z, fractional
// seconds as RFC3339Nano writes whole milliseconds (docs/PROTOCOL.md §4).
func TestGenesisTimeHasOneWrittenForm(t *testing.T) {
	g, _ := testChain(1)
	g.GenesisTime = time.UnixMilli(1_767_225_600_500).UTC()
	written := `"genesis_time": "2026-01-01T00:00:00.5Z"`
	if !strings.Contains(string(g.JSON()), written) {
		t.Fatalf("genesis JSON %s lacks %s", g.JSON(), written)
	}
	for _, other := range []string{"2026-01-01T00:00:00.500Z", "2026-01-01T00:00:00.5+00:00",
		"2026-01-01T01:00:00.5+01:00", "2026-01-01t00:00:00.5z", "2026-01-01T00:00:00.5"} {
		data := strings.Replace(string(g.JSON()), written, `"genesis_time": "`+other+`"`, 1)
		if _, err := ParseGenesis([]byte(data)); !errors.Is(err, ErrGenesisInvalid) {
			t.Errorf("%s: got %v, want ErrGenesisInvalid", other, err)
		}
	}
}

// The largest genesis, written compact (its many small objects weigh most
// in memory against their bytes), is within what the strict decoder lets
// a document's tree take.
func TestTheLargestGenesisWrittenCompactIsRead(t *testing.T) {
	g, _ := testChain(MaxValidators)
	g.App.Organizers = nil
	for i := range MaxOrganizers {
		g.App.Organizers = append(g.App.Organizers, Organizer{Name: fmt.Sprintf("o%d", i), PubKey: g.Validators[i%MaxValidators].PubKey})
	}
	compact, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseGenesis(compact)
	if err != nil {
		t.Fatalf("a compact genesis of %d bytes: %v", len(compact), err)
	}
	if back.Hash() != g.Hash() {
		t.Fatal("hash changed through compact JSON")
	}
}
