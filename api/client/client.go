// Package client is the Go client of a node's and a registrar's HTTP APIs,
// and the voter's side of a vote (Vote): the code the CLI runs and the
// tests use. It trusts no node: ballots are checked against their ids,
// receipts against the genesis.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// Error is an error answer of a node or registrar.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// IsCode reports whether err is an API error with code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// MaxAnswerBytes bounds what the client reads of an answer.
const MaxAnswerBytes = 64 << 20

// defaultHTTP is the transport the clients share: bounded in time, and
// keeping enough idle connections per node for many concurrent requests
// (the default of 2 makes concurrent clients reconnect for every request).
var defaultHTTP = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	},
}

// Node is a client of one node's API.
type Node struct {
	base string
	http *http.Client
}

// NewNode returns a client of the node at baseURL (e.g. http://127.0.0.1:8080).
func NewNode(baseURL string) *Node {
	return &Node{base: strings.TrimRight(baseURL, "/"), http: defaultHTTP}
}

// URL returns the node's base URL.
func (n *Node) URL() string { return n.base }

func do(ctx context.Context, hc *http.Client, method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
		}
		return &Error{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: answer: %w", method, url, err)
	}
	return nil
}

func (n *Node) get(ctx context.Context, path string, out any) error {
	return do(ctx, n.http, http.MethodGet, n.base+path, nil, out)
}

func (n *Node) post(ctx context.Context, path string, in, out any) error {
	return do(ctx, n.http, http.MethodPost, n.base+path, in, out)
}

// Status returns the node's status.
func (n *Node) Status(ctx context.Context) (*api.StatusView, error) {
	var v api.StatusView
	return &v, n.get(ctx, "/v1/status", &v)
}

// Genesis returns the node's genesis, validated.
func (n *Node) Genesis(ctx context.Context) (*consensus.Genesis, error) {
	var raw json.RawMessage
	if err := n.get(ctx, "/v1/genesis", &raw); err != nil {
		return nil, err
	}
	return consensus.ParseGenesis(raw)
}

// Ballot returns a ballot, checked: its definition must hash to id and
// pass every stateless rule, so a lying node cannot change it.
func (n *Node) Ballot(ctx context.Context, id consensus.Hash) (*ballot.Ballot, *api.BallotView, error) {
	var v api.BallotView
	if err := n.get(ctx, "/v1/ballots/"+id.String(), &v); err != nil {
		return nil, nil, err
	}
	if v.Definition == nil {
		return nil, nil, fmt.Errorf("node %s sent ballot %s without its definition", n.base, id)
	}
	if got := v.Definition.ID(); got != id {
		return nil, nil, fmt.Errorf("node %s sent a definition hashing to %s for ballot %s", n.base, got, id)
	}
	b, err := v.Definition.Parse()
	if err != nil {
		return nil, nil, fmt.Errorf("ballot %s from %s: %w", id, n.base, err)
	}
	return b, &v, nil
}

// Ballots lists the node's newest ballots (the first page).
func (n *Node) Ballots(ctx context.Context) ([]api.BallotView, error) {
	v, err := n.BallotPage(ctx, -1, 0)
	if err != nil {
		return nil, err
	}
	return v.Ballots, nil
}

// BallotPage lists up to limit ballots created before index before,
// newest first (before < 0: from the newest; limit 0: the node's default).
func (n *Node) BallotPage(ctx context.Context, before, limit int) (*api.BallotsView, error) {
	q := url.Values{}
	if before >= 0 {
		q.Set("before", strconv.Itoa(before))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/ballots"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var v api.BallotsView
	return &v, n.get(ctx, path, &v)
}

// Results returns a ballot's results.
func (n *Node) Results(ctx context.Context, id consensus.Hash) (*api.ResultsView, error) {
	var v api.ResultsView
	return &v, n.get(ctx, "/v1/ballots/"+id.String()+"/results", &v)
}

// SubmitDefinition sends a signed ballot definition.
func (n *Node) SubmitDefinition(ctx context.Context, d *ballot.Definition) (consensus.Hash, error) {
	var v api.SubmitView
	if err := n.post(ctx, "/v1/ballots", d, &v); err != nil {
		return consensus.Hash{}, err
	}
	if v.BallotID == nil {
		return consensus.Hash{}, errors.New("node answered without a ballot id")
	}
	return *v.BallotID, nil
}

// Keyring fetches a sealed ballot's key generation.
func (n *Node) Keyring(ctx context.Context, id consensus.Hash) (*api.KeyringView, error) {
	var v api.KeyringView
	return &v, n.get(ctx, "/v1/ballots/"+id.String()+"/keyring", &v)
}

// SubmitKeykeeper sends a keykeeper's signed deal, complaint or share.
func (n *Node) SubmitKeykeeper(ctx context.Context, tx *ballot.Tx) (consensus.Hash, error) {
	var v api.SubmitView
	if err := n.post(ctx, "/v1/keykeepers", tx, &v); err != nil {
		return consensus.Hash{}, err
	}
	if v.TxID == nil || *v.TxID != tx.ID() {
		return consensus.Hash{}, fmt.Errorf("node answered tx id %v, the transaction's is %s", v.TxID, tx.ID())
	}
	return *v.TxID, nil
}

// SubmitCast sends a signed cast; the node answers once it passed every check.
func (n *Node) SubmitCast(ctx context.Context, c *ballot.Cast) (consensus.Hash, error) {
	var v api.SubmitView
	if err := n.post(ctx, "/v1/casts", c, &v); err != nil {
		return consensus.Hash{}, err
	}
	if v.CastID == nil || *v.CastID != c.ID() {
		return consensus.Hash{}, fmt.Errorf("node answered cast id %v, the cast's is %s", v.CastID, c.ID())
	}
	return *v.CastID, nil
}

// Overloaded reports whether err is a node's 503 overloaded answer: the
// cast was not checked, and sending it again later is the thing to do.
func Overloaded(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "overloaded"
}

// TooSoon reports whether err is a node's 429 revote_too_soon answer: the
// voter key's last cast is too recent (or still pending), and the same
// cast may be sent again a little later.
func TooSoon(err error) bool { return IsCode(err, "revote_too_soon") }

// retryOverloaded calls send until it succeeds, fails otherwise than by
// overload (or a re-vote too soon), or keeps failing so for longer than
// budget; it waits between tries from 50 ms up to a second.
func retryOverloaded(ctx context.Context, budget time.Duration, send func() error) error {
	deadline := time.Now().Add(budget)
	wait := 50 * time.Millisecond
	for {
		err := send()
		if !(Overloaded(err) || TooSoon(err)) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// SubmitCasts sends many signed casts in one request; each result is the
// answer the cast would have had alone.
func (n *Node) SubmitCasts(ctx context.Context, cs []*ballot.Cast) ([]api.BatchResult, error) {
	var v api.BatchView
	if err := n.post(ctx, "/v1/casts/batch", api.BatchRequest{Casts: cs}, &v); err != nil {
		return nil, err
	}
	if len(v.Results) != len(cs) {
		return nil, fmt.Errorf("node answered %d results for %d casts", len(v.Results), len(cs))
	}
	return v.Results, nil
}

// CastStatus returns a cast's status.
func (n *Node) CastStatus(ctx context.Context, id consensus.Hash) (*api.CastStatusView, error) {
	var v api.CastStatusView
	return &v, n.get(ctx, "/v1/casts/"+id.String(), &v)
}

// UnknownGrace is how long WaitFinal lets a node say "unknown" of a cast
// it accepted before giving up. A node says it of a cast it dropped (its
// ballot closed, the node restarted and lost its mempool); but a node
// behind a load balancer, or an older node that read its ledger before its
// mempool while applying a block, may say it for a moment of a cast that
// is on its way to a block. One "unknown" is no verdict.
const UnknownGrace = 10 * time.Second

// WaitFinal polls a cast's status until it is final (or replaced), the
// context ends, or the node has said "unknown" of it for longer than
// UnknownGrace without a word in between.
func (n *Node) WaitFinal(ctx context.Context, id consensus.Hash, every time.Duration) (*api.CastStatusView, error) {
	return n.waitFinal(ctx, id, every, UnknownGrace)
}

func (n *Node) waitFinal(ctx context.Context, id consensus.Hash, every, grace time.Duration) (*api.CastStatusView, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	var unknownSince time.Time // zero while the node knows the cast
	for {
		v, err := n.CastStatus(ctx, id)
		if err != nil {
			return nil, err
		}
		switch v.Status {
		case api.CastFinal, api.CastReplaced:
			return v, nil
		case api.CastUnknown:
			if unknownSince.IsZero() {
				unknownSince = time.Now()
			} else if time.Since(unknownSince) > grace {
				return v, fmt.Errorf("cast %s is unknown to %s for more than %s (dropped from its mempool)", id, n.base, grace)
			}
		default:
			unknownSince = time.Time{}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for cast %s to be final: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}

// Receipt returns the receipt of a final cast.
func (n *Node) Receipt(ctx context.Context, id consensus.Hash) (*ballot.Receipt, error) {
	var raw json.RawMessage
	if err := n.get(ctx, "/v1/casts/"+id.String()+"/receipt", &raw); err != nil {
		return nil, err
	}
	return ballot.DecodeReceipt(raw)
}

// VerifyReceipt asks the node to verify a receipt.
func (n *Node) VerifyReceipt(ctx context.Context, r *ballot.Receipt) (*api.VerifyView, error) {
	var v api.VerifyView
	return &v, n.post(ctx, "/v1/receipts/verify", r, &v)
}

// Block returns the block at height (0: the latest).
func (n *Node) Block(ctx context.Context, height uint64) (*api.BlockView, error) {
	return n.block(ctx, height, "")
}

// BlockIDs returns the block at height with its transaction ids only.
func (n *Node) BlockIDs(ctx context.Context, height uint64) (*api.BlockView, error) {
	return n.block(ctx, height, "?txs=false")
}

func (n *Node) block(ctx context.Context, height uint64, query string) (*api.BlockView, error) {
	path := "/v1/blocks/latest"
	if height > 0 {
		path = fmt.Sprintf("/v1/blocks/%d", height)
	}
	var v api.BlockView
	return &v, n.get(ctx, path+query, &v)
}
