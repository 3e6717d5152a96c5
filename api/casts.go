package api

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/store"
)

func (s *Server) submitCast(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Backend.Admit(); err != nil {
		WriteError(w, err)
		return
	}
	var c ballot.Cast
	if err := ReadJSON(w, r, s.cfg.MaxBodyBytes, &c); err != nil {
		WriteError(w, err)
		return
	}
	tx := (&ballot.Tx{Cast: &c}).Encode()
	checked, err := s.cfg.Backend.Submit(r.Context(), tx)
	if err != nil {
		WriteError(w, err)
		return
	}
	id := checked.ID
	WriteJSON(w, http.StatusAccepted, SubmitView{CastID: &id})
}

// MaxBatchCasts bounds the casts of one batch request.
const MaxBatchCasts = 1000

// BatchRequest is the body of POST /v1/casts/batch.
type BatchRequest struct {
	Casts []*ballot.Cast `json:"casts"`
}

// BatchResult is one cast's answer in a batch: the status and body it
// would have had alone.
type BatchResult struct {
	Status int             `json:"status"`
	CastID *consensus.Hash `json:"cast_id,omitempty"`
	Error  *ErrorDetail    `json:"error,omitempty"`
}

// BatchView is the answer of POST /v1/casts/batch.
type BatchView struct {
	Results []BatchResult `json:"results"`
}

// submitCasts takes up to MaxBatchCasts casts in one request (for relays
// and load tests: one HTTP exchange instead of many). Each gets the answer
// it would have had alone; the request is 200 whatever they are.
func (s *Server) submitCasts(w http.ResponseWriter, r *http.Request, refused func(n int)) {
	// A node that is behind refuses the whole request before it reads the
	// body: decoding casts it would refuse one by one was the work it
	// could least afford (a loaded devnet's bench sends over a quarter
	// of its casts again after such refusals).
	if err := s.cfg.Backend.Admit(); err != nil {
		WriteError(w, err)
		return
	}
	var req BatchRequest
	if err := ReadJSON(w, r, MaxBatchCasts*s.cfg.MaxBodyBytes/16, &req); err != nil {
		WriteError(w, err)
		return
	}
	if len(req.Casts) > MaxBatchCasts {
		// Decoded in vain (within the body's bound): each cast costs an
		// attempt, as a refused one would, so that sending such batches
		// again and again is throttled like any other refused work.
		refused(len(req.Casts))
		WriteError(w, fmt.Errorf("%w: %d casts, at most %d", ErrBodyTooLarge, len(req.Casts), MaxBatchCasts))
		return
	}
	txs := make([][]byte, len(req.Casts))
	for i, c := range req.Casts {
		if c == nil {
			c = &ballot.Cast{}
		}
		txs[i] = (&ballot.Tx{Cast: c}).Encode()
	}
	checked, errs := s.cfg.Backend.SubmitMany(r.Context(), txs)
	out := BatchView{Results: make([]BatchResult, len(txs))}
	bad := 0
	for i := range txs {
		if errs[i] != nil {
			status, code := ErrorCode(errs[i])
			if isRefusal(status) {
				bad++
			}
			out.Results[i] = BatchResult{Status: status, Error: &ErrorDetail{Code: code, Message: errs[i].Error()}}
			continue
		}
		id := checked[i].ID
		out.Results[i] = BatchResult{Status: http.StatusAccepted, CastID: &id}
	}
	refused(bad)
	WriteJSON(w, http.StatusOK, out)
}

// finalCast locates a cast in the ledger and reads it back.
func (s *Server) finalCast(id consensus.Hash) (c *ballot.Cast, height uint64, index int, err error) {
	height, index, err = s.cfg.Chain.TxLocation(id)
	if err != nil {
		return nil, 0, 0, err
	}
	raw, err := s.cfg.Chain.Tx(height, index)
	if err != nil {
		return nil, 0, 0, err
	}
	tx, err := ballot.DecodeTx(raw, ballot.MaxTxBytes)
	if err != nil {
		return nil, 0, 0, err
	}
	if tx.Cast == nil {
		return nil, 0, 0, fmt.Errorf("%w: %s is not a cast", ErrNotFound, id)
	}
	return tx.Cast, height, index, nil
}

// counted reports whether c is its voter key's latest cast.
func (s *Server) counted(id consensus.Hash, c *ballot.Cast) (bool, error) {
	rec, found, err := s.cfg.State.Voter(c.BallotID, c.Key())
	return found && rec.CastID == id, err
}

func (s *Server) castStatus(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") == "batch" { // POST /v1/casts/batch's path
		w.Header().Set("Allow", http.MethodPost)
		WriteError(w, fmt.Errorf("%w: %s %s: this endpoint takes POST", ErrMethodNotAllowed, r.Method, r.URL.Path))
		return
	}
	id, err := pathHash(r, "id")
	if err != nil {
		WriteError(w, err)
		return
	}
	v := CastStatusView{CastID: id, Status: CastUnknown}
	// The mempool first, then the ledger: the node applies a block by
	// committing it to the ledger and only then removing its casts from
	// the mempool (node.App.ApplyBlock). So a cast that is not in the
	// mempool at the first read either never was, was dropped, or is
	// already in the ledger, where the second read finds it. Read the
	// other way round, a poll falling between the commit and the mempool
	// update missed the cast in both and said "unknown" for a cast that
	// was becoming final (issue 10 item 8). "unknown" is now only said of
	// a cast this node never accepted or dropped (its ballot closed, a
	// re-vote of the same key made it stale, the node restarted).
	pending := s.cfg.Backend.Pending(id)
	c, height, index, err := s.finalCast(id)
	switch {
	case err == nil:
		v.Height, v.Index = height, &index
		n := s.cfg.Witnesses.AttestationCount(height)
		v.Attestations = &n
		v.Status = CastReplaced
		if ok, err := s.counted(id, c); err != nil {
			WriteError(w, err)
			return
		} else if ok {
			v.Status = CastFinal
		}
	case errors.Is(err, store.ErrNotFound):
		if pending {
			v.Status = CastPending
		}
	default:
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, v)
}

func (s *Server) receipt(w http.ResponseWriter, r *http.Request) {
	id, err := pathHash(r, "id")
	if err != nil {
		WriteError(w, err)
		return
	}
	rec, err := s.buildReceipt(id)
	if errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("%w: cast %s is not final on this node", ErrNotFound, id)
	}
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, rec)
}

func (s *Server) buildReceipt(id consensus.Hash) (*ballot.Receipt, error) {
	height, index, err := s.cfg.Chain.TxLocation(id)
	if err != nil {
		return nil, err
	}
	tree, b, err := s.trees.get(height, s.cfg.Chain.Block)
	if err != nil {
		return nil, err
	}
	tx, err := ballot.DecodeTx(b.Txs[index], ballot.MaxTxBytes)
	if err != nil {
		return nil, err
	}
	if tx.Cast == nil {
		return nil, fmt.Errorf("%w: %s is a ballot definition, not a cast", ErrNotFound, id)
	}
	bal, _, found, err := s.cfg.State.BallotAt(tx.Cast.BallotID)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: ballot of cast %s", store.ErrCorrupt, id)
	}
	proof, err := tree.Proof(index)
	if err != nil {
		return nil, err
	}
	commit, err := s.cfg.Chain.CommitAt(height)
	if err != nil {
		return nil, err
	}
	return ballot.NewReceipt(bal.Def, tx.Cast, b.Header, proof, commit), nil
}

// verifyReceipt checks a receipt. One that fails its offline checks (a
// forged or tampered receipt: its signatures were checked in vain) costs
// the sender's address an attempt, as a refused cast does.
func (s *Server) verifyReceipt(w http.ResponseWriter, r *http.Request, refused func(n int)) {
	var rec ballot.Receipt
	if err := ReadJSON(w, r, ballot.MaxReceiptBytes, &rec); err != nil {
		WriteError(w, err)
		return
	}
	if !takeTurn(w, r, s.verifiers, ReceiptVerifyWait, "receipts are being checked") {
		return
	}
	// The turn goes back even if the checks panic (net/http recovers the
	// request): a lost turn would end receipt checks until a restart.
	v := func() *ballot.Verification {
		defer func() { <-s.verifiers }()
		return rec.Verify(s.cfg.Backend.Genesis())
	}()
	if !v.Valid {
		refused(1)
	}
	out := VerifyView{Valid: v.Valid, Checks: v.Checks}
	// What only a node can say: is that block this node's block at that
	// height, and is the cast still its voter key's latest.
	onChain := ballot.ReceiptCheck{Name: "on_chain"}
	if h, err := s.cfg.Chain.Header(rec.Height); err != nil {
		onChain.Detail = fmt.Sprintf("this node has no block %d: %v", rec.Height, err)
	} else if h.Hash() != rec.Header.Hash() {
		onChain.Detail = fmt.Sprintf("this node's block %d is %s, the receipt's is %s", rec.Height, h.Hash(), rec.Header.Hash())
	} else {
		onChain.OK = true
		onChain.Detail = fmt.Sprintf("block %d is on this node's chain", rec.Height)
		out.Attestations = s.cfg.Witnesses.AttestationCount(rec.Height)
	}
	out.Checks = append(out.Checks, onChain)
	out.Valid = out.Valid && onChain.OK
	if out.Valid && rec.Cast != nil {
		ok, err := s.counted(rec.CastID, rec.Cast)
		if err != nil {
			WriteError(w, err)
			return
		}
		out.Counted = ok
		if rec.Cast.Sealed != nil {
			if k, found, err := s.cfg.State.Keyring(rec.Cast.BallotID); err == nil && found && k.Secret != nil {
				if ch, err := k.OpenCast(s.cfg.Backend.Genesis().Chain(), rec.Cast); err == nil {
					c := uint32(ch)
					out.SealedChoice = &c
				}
			}
		}
	}
	WriteJSON(w, http.StatusOK, out)
}

// treeCache keeps the Merkle trees of recent blocks: voters ask for their
// receipts soon after their block, and a tree makes each proof O(log n).
type treeCache struct {
	mu    sync.Mutex
	max   int
	order []uint64
	trees map[uint64]cachedTree
}

type cachedTree struct {
	tree  *consensus.MerkleTree
	block *consensus.Block
}

func newTreeCache(max int) *treeCache {
	return &treeCache{max: max, trees: map[uint64]cachedTree{}}
}

func (c *treeCache) get(height uint64, load func(uint64) (*consensus.Block, error)) (*consensus.MerkleTree, *consensus.Block, error) {
	c.mu.Lock()
	t, ok := c.trees[height]
	c.mu.Unlock()
	if ok {
		return t.tree, t.block, nil
	}
	b, err := load(height)
	if err != nil {
		return nil, nil, err
	}
	t = cachedTree{tree: consensus.NewMerkleTree(b.Txs), block: b}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.trees[height]; !ok {
		c.trees[height] = t
		c.order = append(c.order, height)
		if len(c.order) > c.max {
			delete(c.trees, c.order[0])
			c.order = c.order[1:]
		}
	}
	return t.tree, t.block, nil
}
