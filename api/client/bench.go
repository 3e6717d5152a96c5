package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/consensus"
)

// BenchConfig configures a load run against one or more nodes.
type BenchConfig struct {
	Nodes     []*Node
	Registrar *Registrar
	Ballot    consensus.Hash
	// Roll lists the voters to take tokens for; Voters of them are used.
	Roll   []registrar.RollEntry
	Voters int
	// Casts is the number of casts to send; beyond Voters they are
	// re-votes (the ballot must allow them), each voter's in seq order.
	Casts int
	// Concurrency is the number of clients sending at once.
	Concurrency int
	// Rate caps the sending rate in casts/s; 0 sends as fast as accepted.
	Rate float64
	// Batch sends this many casts per request (POST /v1/casts/batch);
	// 0 or 1 sends one cast per request (POST /v1/casts).
	Batch int
	Rand  io.Reader
	// Progress, if set, is called often with the phase and its progress.
	Progress func(phase string, done, total int)
	// Timeout bounds the wait for the last casts to be final.
	Timeout time.Duration
	// OnWindow, if set, is called when the timed window opens and closes
	// (to profile exactly that part).
	OnWindow func(open bool)
	// Tokens, if set, names a file of the voters' tokens: read from it
	// when it exists (written by an earlier run for the same ballot: on
	// a copy of the devnet as it was before that run's casts), else
	// obtained from the registrar and written to it.
	Tokens string
	// TokensOnly stops once the tokens are obtained (and written to
	// Tokens): nothing is sent.
	TokensOnly bool
}

// BenchReport is what a run measured.
type BenchReport struct {
	Nodes     int            `json:"nodes"`
	Voters    int            `json:"voters"`
	Skipped   int            `json:"skipped_voters"` // roll voters who already had a token
	Sent      int            `json:"sent"`
	Accepted  int            `json:"accepted"`
	Rejected  map[string]int `json:"rejected"`
	Retried   int            `json:"retried"` // sends again after a 503 overloaded
	Final     int            `json:"final"`
	Prepare   time.Duration  `json:"prepare_ns"`
	Window    time.Duration  `json:"window_ns"`
	FinalRate float64        `json:"final_casts_per_s"`
	SendRate  float64        `json:"sent_casts_per_s"`
	LatencyMs Percentiles    `json:"latency_ms"`
	Blocks    int            `json:"blocks"`
	// Superseded counts the accepted casts never final because a later
	// cast of the same voter key was final first (on a chain without a
	// re-vote interval a voter's casts can reach the proposers out of
	// order; the earlier one is then refused: its seq is not above).
	Superseded int `json:"superseded"`
	// Missing lists (some of) the accepted casts never seen final nor
	// superseded.
	Missing []consensus.Hash `json:"missing,omitempty"`
}

// Percentiles of cast-to-final latency, in milliseconds.
type Percentiles struct {
	P50, P90, P99, Max float64
}

// errStillOverloaded stands for the 503 answers of the last try, for the
// casts of a batch still refused by overload when the retry budget ends.
var errStillOverloaded = &Error{Status: 503, Code: "overloaded", Message: "node overloaded"}

type benchCast struct {
	cast *ballot.Cast
	id   consensus.Hash
	sent time.Time
	ok   bool
	prev *benchCast // the voter's cast before this one, if any
	// superseded: a later cast of the voter was final first (under
	// benchWindow.mu).
	superseded bool
}

// Bench obtains the tokens and signs every cast before its timed window;
// then sends them from concurrent clients, round-robin over the nodes,
// and watches the first node's blocks to time each cast to finality.
func Bench(ctx context.Context, cfg BenchConfig) (*BenchReport, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Voters <= 0 || cfg.Voters > len(cfg.Roll) {
		cfg.Voters = min(len(cfg.Roll), cfg.Casts)
	}
	cfg.Casts = max(cfg.Casts, cfg.Voters)
	if cfg.Voters == 0 || cfg.Casts < cfg.Voters {
		return nil, fmt.Errorf("bench: %d casts for %d voters", cfg.Casts, cfg.Voters)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}
	g, err := cfg.Nodes[0].Genesis(ctx)
	if err != nil {
		return nil, err
	}
	b, _, err := cfg.Nodes[0].Ballot(ctx, cfg.Ballot)
	if err != nil {
		return nil, err
	}
	if cfg.Casts > cfg.Voters && !b.Def.Revote {
		return nil, errors.New("bench: more casts than voters needs a ballot that allows re-voting")
	}
	// The chain bounds re-votes (docs/PROTOCOL.md §13): the casts of one
	// voter go in one batch, so they must fit the chain's bounds at once.
	if per := (cfg.Casts + cfg.Voters - 1) / cfg.Voters; per > 1 && (per > g.App.MaxCastsPerVoter || g.App.RevoteIntervalMs > 0) {
		return nil, fmt.Errorf("bench: %d casts of %d voters is %d casts per voter, but this chain allows %d per voter key, %d ms apart: ask at most %d casts (one per voter), or start a devnet with more voters (cocorico devnet --voters N) or for re-votes (--revote-interval 0 --max-casts-per-voter 1000)",
			cfg.Casts, cfg.Voters, per, g.App.MaxCastsPerVoter, g.App.RevoteIntervalMs, cfg.Voters)
	}
	chain := g.Chain()
	start := time.Now()
	toks, skipped, err := tokensFor(ctx, cfg, b, progress)
	if err != nil {
		return nil, err
	}
	if cfg.TokensOnly {
		return &BenchReport{Nodes: len(cfg.Nodes), Voters: len(toks), Skipped: skipped, Rejected: map[string]int{}, Prepare: time.Since(start)}, nil
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("bench: no voter of the roll could get a token (%d already had one)", skipped)
	}
	// Fewer voters than asked could get a token (the roll ran out): no
	// more casts per voter than the ballot and the chain take.
	if cfg.Voters = len(toks); cfg.Casts > cfg.Voters && (!b.Def.Revote || g.App.RevoteIntervalMs > 0) {
		cfg.Casts = cfg.Voters
	}
	cfg.Casts = min(cfg.Casts, cfg.Voters*g.App.MaxCastsPerVoter)
	// Casts per voter, in seq order; a voter's casts all go through one client.
	perVoter := make([][]*benchCast, cfg.Voters)
	for i := range cfg.Casts {
		v := i % cfg.Voters
		t := toks[v]
		c := &ballot.Cast{BallotID: b.ID, Seq: uint64(len(perVoter[v]) + 1), Choice: uint32(i % len(b.Def.Choices)),
			Registrar: t.registrar, TokenPrefix: t.tok.Prefix, Token: t.tok.Signature}
		c.Sign(chain, t.key)
		bc := &benchCast{cast: c, id: c.ID()}
		if k := len(perVoter[v]); k > 0 {
			bc.prev = perVoter[v][k-1]
		}
		perVoter[v] = append(perVoter[v], bc)
		if i%1000 == 0 {
			progress("sign", i, cfg.Casts)
		}
	}
	progress("sign", cfg.Casts, cfg.Casts)
	rep := &BenchReport{Nodes: len(cfg.Nodes), Voters: cfg.Voters, Skipped: skipped, Rejected: map[string]int{}, Prepare: time.Since(start)}
	return rep, benchRun(ctx, cfg, perVoter, rep, progress)
}
