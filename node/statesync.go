package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node/app"
	"github.com/cocorico/node/p2p"
	"github.com/cocorico/node/store"
)

// State sync (docs/PROTOCOL.md §21). A volunteer with an empty ledger
// joins from a snapshot a peer offers: the manifest is checked against the
// header after its height (whose commit > 2/3 of the validators signed),
// the chunks each against the manifest, from several peers at once, and
// the rebuilt state against the manifest's app hash. It then follows from
// the snapshot's height like any node and, in the background, back-fills
// the blocks before it, each checked against its commit and chained to
// the next. Every node takes snapshots between two blocks and serves them.

// takeSnapshot is the app's AfterApply: a snapshot after every block at a
// multiple of the interval, once the chain has a ballot. One block before,
// it starts a flush of the ledger's memtable, so that the snapshot copies
// one block's log rather than a memtable's (the copy is in the apply
// path: at a million records, 0.1–3 s on a devnet's shared disk).
func (n *Node) takeSnapshot(b *consensus.Block) {
	h := b.Header.Height
	if n.snaps == nil {
		return
	}
	flush, take := snapshotStep(h, uint64(n.cfg.Snapshots.Interval))
	if flush {
		if _, err := n.ledger.StartFlush(); err != nil {
			n.logger.Warn("flush before a snapshot not started", "height", h, "err", err)
		}
	}
	if !take {
		return
	}
	start := time.Now()
	m, err := n.app.State().Manifest(h, b.Hash(), n.cfg.Snapshots.ChunkBits)
	if err != nil {
		n.logger.Warn("snapshot not taken", "height", h, "err", err)
		return
	}
	// The checkpoint, the manifest's file and the pruning of old
	// snapshots run in the background (up to 1.2 s and 0.7 s at 300,000
	// records in a loaded devnet): the node validates and votes for the next
	// block meanwhile, and only its next commit waits for the checkpoint.
	done := n.snaps.Start(n.ledger, h, m.Encode())
	held := time.Since(start)
	go func() {
		if err := <-done; err != nil {
			n.logger.Warn("snapshot not taken", "height", h, "err", err)
			return
		}
		n.logger.Info("snapshot taken", "height", h, "ballots", m.Ballots, "records", m.Records,
			"ms", time.Since(start).Milliseconds(), "apply_ms", held.Milliseconds())
	}()
}

// snapshotStep says what a node does after block h with snapshots every
// interval blocks: start a flush (the block before a snapshot's), take a
// snapshot, both (interval 1) or neither.
func snapshotStep(h, interval uint64) (flush, take bool) {
	return (h+1)%interval == 0, h%interval == 0
}

// snapshotSource serves the node's snapshots to peers (p2p.SnapshotSource).
type snapshotSource struct {
	n  *Node
	mu sync.Mutex
	// manifests decoded, by height: a chunk request names its snapshot
	manifests map[uint64]*ballot.Manifest
}

func (s *snapshotSource) SnapshotManifests() [][]byte {
	var out [][]byte
	for _, info := range s.n.snaps.List() {
		out = append(out, info.Manifest)
	}
	return out
}

func (s *snapshotSource) manifest(height uint64) (*ballot.Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.manifests[height]; ok {
		return m, nil
	}
	for _, info := range s.n.snaps.List() {
		if info.Height == height {
			m, err := ballot.DecodeManifest(info.Manifest)
			if err != nil {
				return nil, err
			}
			if len(s.manifests) > 8 {
				clear(s.manifests)
			}
			s.manifests[height] = m
			return m, nil
		}
	}
	return nil, fmt.Errorf("no snapshot at height %d", height)
}

func (s *snapshotSource) SnapshotChunk(height uint64, list uint8, index uint32) ([]byte, error) {
	m, err := s.manifest(height)
	if err != nil {
		return nil, err
	}
	r, err := s.n.snaps.Open(height)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := ballot.ReadChunk(r, m, list, index)
	if err == nil && s.n.cfg.Snapshots.TestCorruptChunks && len(data) > 0 {
		data[len(data)-1] ^= 1
	}
	return data, err
}

// errNoSnapshot: the peers answered and hold no snapshot (a young chain):
// replaying it is the normal way in.
var errNoSnapshot = errors.New("the peers hold no snapshot")

// offer is a snapshot some peers hold.
type offer struct {
	m     *ballot.Manifest
	peers []peer.ID
}

// stateSync joins the chain from the best snapshot peers offer, or
// returns an error (the node then replays from genesis).
func (nw *peerNetwork) stateSync(ctx context.Context) error {
	n := nw.n
	deadline := time.Now().Add(n.cfg.StateSyncWait)
	tried := map[consensus.Hash]bool{} // manifests (by app hash and height) that failed
	waiting := map[uint64]bool{}       // heights whose anchor was logged as pending
	nw.host.AwaitBootstrapSnapshotPeers(ctx, bootstrapSettle)
	for {
		offers, answered := nw.snapshotOffers(ctx)
		if answered > 0 && len(offers) == 0 {
			// Peers answered and hold no snapshot (a young chain): no
			// reason to wait for one.
			return errNoSnapshot
		}
		offers = slices.DeleteFunc(offers, func(o offer) bool { return tried[manifestKey(o.m)] })
		for _, o := range offers {
			err := nw.restoreFrom(ctx, o)
			if err == nil {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, errAnchorPending) {
				if !waiting[o.m.Height] {
					waiting[o.m.Height] = true
					n.logger.Info("state sync: waiting for the next block to anchor the snapshot", "height", o.m.Height)
				}
				continue
			}
			tried[manifestKey(o.m)] = true
			n.logger.Warn("state sync: snapshot not usable", "height", o.m.Height, "peers", len(o.peers), "err", err)
		}
		if time.Now().After(deadline) {
			if len(waiting) > 0 {
				return fmt.Errorf("no usable snapshot offered within %v: the newest still waits for the block that anchors it (a quiet chain: replaying it is quick)", n.cfg.StateSyncWait)
			}
			return errors.New("no usable snapshot offered")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// bootstrapSettle bounds how long state sync waits for its bootstrap peers
// to connect before it asks for offers (an unreachable one is not waited
// for longer: the node joins from the others).
const bootstrapSettle = 5 * time.Second

// manifestKey names an offer by the manifest's whole bytes: a manifest
// with the right app hash but a count off (which its hash does not cover)
// is another offer, fetched from the peers that offered it only, and the
// chunk that cannot match it strikes them, not honest peers.
func manifestKey(m *ballot.Manifest) consensus.Hash { return consensus.Sum(m.Encode()) }

// snapshotOffers asks every peer for its manifests and returns what
// judgeOffers makes of the answers; the peers it finds lying get a strike.
func (nw *peerNetwork) snapshotOffers(ctx context.Context) ([]offer, int) {
	var answers []peerManifests
	for _, p := range nw.host.SnapshotPeers() {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ms, err := nw.host.SnapshotManifests(actx, p)
		cancel()
		if err == nil {
			answers = append(answers, peerManifests{p, ms})
		}
	}
	offers, answered, liars := judgeOffers(answers)
	for p, err := range liars {
		nw.host.Strike(p, err.Error())
	}
	return offers, answered
}

// peerManifests is a peer's answer to a request for its manifests.
type peerManifests struct {
	peer      peer.ID
	manifests [][]byte
}

// judgeOffers returns the snapshots the answers offer, highest first, each
// with the peers that offer it, and how many peers answered honestly. A
// manifest that does not hash to its own app hash is provably bad: its
// peer is among the liars, with the reason, and none of its offers is
// taken nor its answer counted (a peer that lied alone does not make the
// node give up waiting for snapshots).
func judgeOffers(answers []peerManifests) (offers []offer, answered int, liars map[peer.ID]error) {
	byKey := map[consensus.Hash]*offer{}
	liars = map[peer.ID]error{}
	for _, a := range answers {
		ms := make([]*ballot.Manifest, 0, len(a.manifests))
		for _, data := range a.manifests {
			m, err := ballot.DecodeManifest(data)
			if err != nil {
				liars[a.peer] = err
				break
			}
			ms = append(ms, m)
		}
		if liars[a.peer] != nil {
			continue
		}
		answered++
		for _, m := range ms {
			k := manifestKey(m)
			if byKey[k] == nil {
				byKey[k] = &offer{m: m}
			}
			byKey[k].peers = append(byKey[k].peers, a.peer)
		}
	}
	offers = make([]offer, 0, len(byKey))
	for _, o := range byKey {
		offers = append(offers, *o)
	}
	slices.SortFunc(offers, func(a, b offer) int {
		if c := cmp.Compare(b.m.Height, a.m.Height); c != 0 {
			return c
		}
		return len(b.peers) - len(a.peers)
	})
	return offers, answered, liars
}

// errUnsigned: the validators did not sign what a manifest claims (a
// peer's provable lie, unlike a peer that does not answer).
var errUnsigned = errors.New("the chain does not sign this snapshot")

// anchor fetches the snapshot's block and the next one with their
// commits, from any of the peers, and checks that the validators signed
// the manifest's block hash and app hash.
func (nw *peerNetwork) anchor(ctx context.Context, o offer) (*consensus.Block, *consensus.Commit, error) {
	vals, chain := nw.n.cfg.Genesis.ValidatorSet(), nw.n.app.Rules().Chain
	h := o.m.Height
	var last error = errors.New("no peer gave the blocks")
	pending := 0 // peers that hold block h but not h+1 yet
	for _, p := range o.peers {
		_, blocks, commits, err := nw.host.FetchBlocks(ctx, p, h, 2)
		switch {
		case err != nil:
			last = fmt.Errorf("peer %s: blocks %d and %d: %w", p.ShortString(), h, h+1, err)
			continue
		case len(blocks) == 1 && blocks[0].Header.Height == h:
			pending++
			last = fmt.Errorf("peer %s holds block %d, not yet %d", p.ShortString(), h, h+1)
			continue
		case len(blocks) < 2:
			last = fmt.Errorf("peer %s: asked blocks %d and %d, got %d", p.ShortString(), h, h+1, len(blocks))
			continue
		}
		b, next := blocks[0], blocks[1]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: block %d from %s: %s", errUnsigned, h, p.ShortString(), fmt.Sprintf(format, args...))
		}
		if b.Header.Height != h || next.Header.Height != h+1 {
			last = fmt.Errorf("peer %s: asked blocks %d and %d, got %d and %d", p.ShortString(), h, h+1, b.Header.Height, next.Header.Height)
			continue
		}
		valid := true
		for i, blk := range blocks[:2] {
			if commits[i].Verify(chain, vals, blk.Header.Height, blk.Hash()) != nil {
				valid = false // this peer sent a bad block; the manifest is not judged by it
			}
		}
		if !valid || b.CheckStructure(nw.n.cfg.Genesis.ChainID, nw.n.cfg.Genesis.Params) != nil {
			nw.host.Strike(p, "block sync answer without a valid commit")
			last = fmt.Errorf("peer %s sent blocks %d and %d without valid commits", p.ShortString(), h, h+1)
			continue
		}
		switch {
		case b.Hash() != o.m.BlockHash:
			return nil, nil, bad("the manifest names block %s, the chain's is %s", o.m.BlockHash.Short(), b.Hash().Short())
		case next.Header.AppHash != o.m.AppHash:
			return nil, nil, bad("the manifest's app hash %s is not the one the validators signed in header %d, %s",
				o.m.AppHash.Short(), h+1, next.Header.AppHash.Short())
		}
		return b, commits[0], nil
	}
	if pending == len(o.peers) {
		return nil, nil, fmt.Errorf("%w: the snapshot at height %d is anchored by the header of block %d, which the chain has not made yet", errAnchorPending, h, h+1)
	}
	return nil, nil, last
}

// errAnchorPending: a snapshot of the chain's tip waits for the next
// block, whose header signs its app hash; it is tried again, not dropped.
var errAnchorPending = errors.New("snapshot not anchored yet")

// restoreFrom fills the empty ledger from one snapshot and hands the
// state to the app.
func (nw *peerNetwork) restoreFrom(ctx context.Context, o offer) error {
	n := nw.n
	start := time.Now()
	b, c, err := nw.anchor(ctx, o)
	if errors.Is(err, errUnsigned) {
		for _, p := range o.peers {
			nw.host.Strike(p, "offered a snapshot the chain does not sign: "+err.Error())
		}
	}
	if err != nil {
		return err
	}
	m := o.m
	n.logger.Info("state sync: joining from a snapshot", "height", m.Height, "ballots", m.Ballots, "records", m.Records,
		"chunks", len(m.ResultsRoots)+len(m.RecordsRoots), "peers", len(o.peers))
	if err := n.ledger.BeginRestore(); err != nil {
		return err
	}
	restored := false
	defer func() {
		if !restored {
			if err := n.ledger.AbandonRestore(); err != nil {
				n.logger.Error("state sync: the partial state could not be removed", "err", err)
			}
		}
	}()
	var chunks []p2p.ChunkID
	for list := ballot.ListResults; list <= ballot.ListRecords; list++ {
		for i := range m.Chunks(list) {
			chunks = append(chunks, p2p.ChunkID{List: list, Index: uint32(i)})
		}
	}
	var mu sync.Mutex
	verified := map[p2p.ChunkID][]ballot.KV{}
	written := 0
	err = nw.host.FetchChunks(ctx, o.peers, m.Height, chunks,
		func(p peer.ID, id p2p.ChunkID, data []byte) error {
			kvs, err := ballot.VerifyChunk(m, id.List, id.Index, data)
			if err != nil {
				n.logger.Warn("state sync: a peer served a chunk that fails its check", "peer", p, "chunk", id, "err", err)
				return err
			}
			mu.Lock()
			verified[id] = kvs
			mu.Unlock()
			return nil
		},
		func(id p2p.ChunkID, _ []byte) error {
			mu.Lock()
			kvs := verified[id]
			delete(verified, id)
			mu.Unlock()
			written++
			n.metrics.SnapshotChunks.Inc()
			w := make([]store.KV, len(kvs))
			for i, kv := range kvs {
				w[i] = store.KV(kv)
			}
			return n.ledger.RestoreWrites(w)
		})
	if err != nil {
		return fmt.Errorf("chunks: %w", err)
	}
	if err := n.ledger.FinishRestore(b, c, txIDs(b)); err != nil {
		return err
	}
	restored = true
	if err := n.app.Restored(m.AppHash); err != nil {
		// The chunks each proved into the signed app hash: this is a bug
		// of this node, not a peer's lie. Nothing of it is kept.
		return fmt.Errorf("%w (the ledger must be removed before the node starts again)", err)
	}
	n.logger.Info("state sync: joined", "height", m.Height, "chunks", written, "s", time.Since(start).Seconds())
	return nil
}

// backfill fetches the blocks before the ledger's base, in order, each
// checked against its commit and chained to the one before it (its
// parent hash), the last one to the base block, and stores them. It ends
// when the ledger is whole or ctx ends.
func (nw *peerNetwork) backfill(ctx context.Context) {
	n := nw.n
	l := n.ledger
	vals, chain := n.cfg.Genesis.ValidatorSet(), n.app.Rules().Chain
	start, from := time.Now(), l.Filled()+1
	prev := n.cfg.Genesis.Hash()
	if l.Filled() > 0 {
		h, err := l.Header(l.Filled())
		if err != nil {
			n.logger.Error("back-fill: the last back-filled header is unreadable", "err", err)
			return
		}
		prev = h.Hash()
	}
	baseHeader, err := l.Header(l.Base())
	if err != nil {
		n.logger.Error("back-fill: the base header is unreadable", "err", err)
		return
	}
	wait := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(2 * time.Second):
			return true
		}
	}
	for !l.Whole() && ctx.Err() == nil {
		next := l.Filled() + 1
		count := min(64, l.Base()-next)
		var got bool
		for _, p := range nw.host.SyncPeers() {
			_, blocks, commits, err := nw.host.FetchBlocks(ctx, p, next, int(count))
			if err != nil || len(blocks) == 0 {
				continue
			}
			if err := nw.backfillRun(blocks, commits, &prev, baseHeader, vals, chain); err != nil {
				n.logger.Warn("back-fill: a peer sent blocks that do not chain", "peer", p, "from", next, "err", err)
				nw.host.Strike(p, err.Error())
				continue
			}
			got = true
			n.metrics.BackfilledBlocks.Add(float64(len(blocks)))
			break
		}
		if !got && !wait() {
			return
		}
	}
	if l.Whole() {
		n.logger.Info("back-fill: the ledger holds every block from genesis", "blocks", l.Height(), "from", from,
			"s", time.Since(start).Seconds())
	}
}

// reverify runs once the back-fill of a node that joined by state sync at
// h is done: it replays blocks 1..h as a recount does (every signature of
// every cast, every header's app hash), checks the state it reaches
// against header h+1's app hash, and records that this node has now
// verified every cast of the chain itself (VerifiedFrom 1). It waits for
// block h+1 if the chain has not made it yet. A replay that fails is
// logged as an error and changes nothing.
func (n *Node) reverify(ctx context.Context) {
	l := n.ledger
	to := l.VerifiedFrom() - 1
	if to == 0 || !l.Whole() {
		return
	}
	for l.Height() <= to {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	start := time.Now()
	scratch := n.cfg.Home.ReverifyDir()
	n.logger.Info("re-verification: replaying every block before the snapshot", "blocks", to, "scratch_ledger", scratch)
	if err := app.Reverify(ctx, l, n.cfg.Genesis, to, scratch); err != nil {
		if ctx.Err() == nil {
			n.logger.Error("re-verification failed: the snapshot this node joined from does not follow from the chain's blocks", "height", to, "err", err)
		}
		return
	}
	if err := l.Reverified(); err != nil {
		n.logger.Error("re-verification: not recorded", "err", err)
		return
	}
	n.logger.Info("re-verification: this node has verified every cast of the chain itself", "blocks", to,
		"s", time.Since(start).Seconds())
}

// backfillRun checks and stores one run of fetched blocks.
func (nw *peerNetwork) backfillRun(blocks []*consensus.Block, commits []*consensus.Commit, prev *consensus.Hash, base *consensus.Header,
	vals *consensus.ValidatorSet, chain consensus.Chain) error {
	l := nw.n.ledger
	for i, b := range blocks {
		h := b.Header.Height
		switch {
		case h != l.Filled()+1 || h >= l.Base():
			return fmt.Errorf("block %d where %d was asked", h, l.Filled()+1)
		case b.Header.PrevHash != *prev:
			return fmt.Errorf("block %d's parent is %s, block %d is %s", h, b.Header.PrevHash.Short(), h-1, prev.Short())
		case b.CheckStructure(nw.n.cfg.Genesis.ChainID, nw.n.cfg.Genesis.Params) != nil:
			return fmt.Errorf("block %d's transactions are not its header's", h)
		case h+1 == l.Base() && base.PrevHash != b.Hash():
			return fmt.Errorf("block %d is not the parent of the base block %d", h, h+1)
		}
		if err := commits[i].Verify(chain, vals, h, b.Hash()); err != nil {
			return fmt.Errorf("block %d has no valid commit: %w", h, err)
		}
		if err := l.Backfill(b, commits[i], txIDs(b)); err != nil {
			if errors.Is(err, store.ErrCorrupt) {
				nw.n.logger.Error("back-fill: ledger write failed", "err", err)
			}
			return err
		}
		*prev = b.Hash()
	}
	return nil
}

// txIDs returns the ids of a block's transactions, in block order (what
// the ledger indexes).
func txIDs(b *consensus.Block) []consensus.Hash {
	ids := make([]consensus.Hash, len(b.Txs))
	for i, tx := range b.Txs {
		ids[i] = ballot.TxID(tx)
	}
	return ids
}
