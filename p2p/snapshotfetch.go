package p2p

// The joining side of the snapshot protocol (snapshot.go): the manifests
// and chunks asked of peers, the fetch of a whole snapshot from several
// peers at once, and the strikes of peers that served bad data.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// SnapshotManifests asks peer p for the manifests of the snapshots it
// serves, newest first (none from a peer that serves none). The caller
// decodes and checks them.
func (x *Host) SnapshotManifests(ctx context.Context, p peer.ID) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	r, done, err := x.ask(ctx, p, x.names.snapshot, snapshotRequest{Kind: snapshotList}, maxManifestsTotal+frameSlack+16)
	if err != nil {
		return nil, err
	}
	defer done()
	var a manifestsAnswer
	if err := readFrame(r, &a, maxManifestsTotal+frameSlack); err != nil {
		return nil, fmt.Errorf("%w: manifests from %s: %v", ErrSnapshot, p, err)
	}
	if len(a.Manifests) > MaxManifests {
		return nil, fmt.Errorf("%w: %s sent %d manifests", ErrSnapshot, p, len(a.Manifests))
	}
	total := 0
	for _, m := range a.Manifests {
		if len(m) > MaxManifest {
			return nil, fmt.Errorf("%w: %s sent a manifest of %d bytes", ErrSnapshot, p, len(m))
		}
		total += len(m)
	}
	if total > maxManifestsTotal {
		return nil, fmt.Errorf("%w: %s sent %d bytes of manifests", ErrSnapshot, p, total)
	}
	return a.Manifests, nil
}

// FetchChunk asks peer p for one chunk of its snapshot at height. It
// returns ErrNotHeld when the peer answers that it does not serve it. The
// caller verifies the chunk.
func (x *Host) FetchChunk(ctx context.Context, p peer.ID, height uint64, list uint8, index uint32) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, chunkTimeout)
	defer cancel()
	req := snapshotRequest{Kind: snapshotChunk, Height: &height, List: &list, Index: &index}
	r, done, err := x.ask(ctx, p, x.names.snapshot, req, MaxChunk+frameSlack+16)
	if err != nil {
		return nil, err
	}
	defer done()
	var a chunkAnswer
	if err := readFrame(r, &a, MaxChunk+frameSlack); err != nil {
		return nil, fmt.Errorf("%w: chunk %s from %s: %v", ErrSnapshot, ChunkID{list, index}, p, err)
	}
	switch {
	case a.Chunk != nil && a.Reason == "" && len(*a.Chunk) <= MaxChunk:
		return *a.Chunk, nil
	case a.Reason == "busy" && a.Chunk == nil:
		return nil, fmt.Errorf("%w: %s: chunk %s at height %d: %w", ErrNotHeld, p, ChunkID{list, index}, height, ErrBusy)
	case a.Chunk == nil && a.Reason != "" && len(a.Reason) <= maxReason:
		return nil, fmt.Errorf("%w: %s: chunk %s at height %d: %s", ErrNotHeld, p, ChunkID{list, index}, height, a.Reason)
	}
	return nil, fmt.Errorf("%w: %s sent a malformed chunk answer", ErrSnapshot, p)
}

// Strike records that a peer served provably bad data (a chunk that
// failed its check): two strikes within banDuration ban it through the
// ban gater for banDuration and close its connection, as a peer whose
// gossip score falls below the graylist threshold is. It returns true
// when this strike banned it. The table remembers at most maxStrikes
// peers (a public node is attacked from many ids): the oldest strike is
// forgotten first.
func (x *Host) Strike(p peer.ID, reason string) bool {
	if p == x.h.ID() {
		return false
	}
	now := time.Now()
	x.snap.mu.Lock()
	if x.snap.strikes == nil {
		x.snap.strikes = map[peer.ID]strike{}
	}
	last, ok := x.snap.strikes[p]
	ban := ok && now.Sub(last.at) < banDuration
	if ban {
		delete(x.snap.strikes, p)
	} else {
		if !ok && len(x.snap.strikes) >= maxStrikes {
			x.forgetOldestStrike()
		}
		x.snap.struck++
		x.snap.strikes[p] = strike{at: now, seq: x.snap.struck}
	}
	x.snap.mu.Unlock()
	if !ban {
		x.cfg.Logger.Warn("peer struck for bad data", "peer", p, "reason", reason)
		return false
	}
	x.banAndClose(p, "peer banned for bad data", "reason", reason)
	return true
}

// forgetOldestStrike drops the oldest entry of the full strike table; a
// scan of at most maxStrikes entries, only when a new peer is struck.
func (x *Host) forgetOldestStrike() {
	var oldest peer.ID
	var seq uint64
	for p, s := range x.snap.strikes {
		if oldest == "" || s.seq < seq {
			oldest, seq = p, s.seq
		}
	}
	delete(x.snap.strikes, oldest)
}

// SnapshotPeers returns the connected peers that speak the snapshot
// protocol (identify told it); whether they serve any snapshot, their
// manifests tell.
func (x *Host) SnapshotPeers() []peer.ID { return x.peersSpeaking(x.names.snapshot) }

// AwaitBootstrapSnapshotPeers returns once every bootstrap peer is
// connected and speaks the snapshot protocol, or after wait, or when ctx
// ends: a node joining by state sync asks all of them for offers, not only
// the peers whose dials happened to end first (it would fetch every chunk
// from those alone, and choose the snapshot on their word).
func (x *Host) AwaitBootstrapSnapshotPeers(ctx context.Context, wait time.Duration) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		speaking := x.SnapshotPeers()
		if !slices.ContainsFunc(x.bootstrap, func(ai peer.AddrInfo) bool {
			return ai.ID != x.h.ID() && !slices.Contains(speaking, ai.ID)
		}) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// FetchChunks fetches every chunk of the snapshot at height from peers,
// up to chunksInFlight requests outstanding per peer (one for a peer
// that served a chunk failing verify), each chunk given to
// the next peer with room for one. verify is called (from a fetching
// goroutine of that peer) on
// each chunk; a chunk that fails verify is discarded, the peer gets a
// strike (Strike; a peer that strike bans leaves this fetch), and the
// chunk goes back to the queue for another peer. A transport error
// (timeout, reset, malformed answer, ErrNotHeld; "busy" only after
// maxBusyTries answers of it) puts the chunk back too
// and counts against the peer: after 3 such errors the peer leaves this
// fetch (it is not banned). A chunk is never given again to a peer that
// failed it either way, so that a fetch always ends.
//
// deliver is called once per chunk, serialised (never two at once), in
// any order, with chunks that passed verify; while it runs, requests in
// flight go on but no new one is sent. An error from deliver ends
// FetchChunks with it. FetchChunks returns nil when every chunk is
// delivered, an ErrSnapshot naming a chunk when no peer is left that
// could serve it (wrapping that chunk's last error too: ErrNotHeld when
// the last peer asked did not hold it), or ctx's error. It returns once every request it made
// has ended.
func (x *Host) FetchChunks(ctx context.Context, peers []peer.ID, height uint64, chunks []ChunkID,
	verify func(p peer.ID, id ChunkID, data []byte) error, deliver func(id ChunkID, data []byte) error) error {
	f := newChunkFetch(x.h.ID(), peers, chunks)
	if f.left == 0 {
		return nil
	}
	fctx, cancel := context.WithCancel(ctx)
	results := make(chan chunkResult, len(f.peers)*chunksInFlight) // never waits: the requests in flight
	var wg sync.WaitGroup
	for _, p := range f.peers {
		ch := make(chan ChunkID, chunksInFlight)
		f.work[p] = ch
		for range chunksInFlight {
			wg.Go(func() { x.fetchChunksOf(fctx, p, height, ch, verify, results) })
		}
	}
	defer func() {
		cancel()
		for _, ch := range f.work {
			close(ch)
		}
		wg.Wait()
	}()
	for {
		f.assign()
		if f.left == 0 {
			return nil
		}
		if err := f.stuck(height); err != nil {
			return err
		}
		var r chunkResult
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r = <-results:
		}
		f.busy[r.p]--
		if r.err == nil {
			f.left--
			if err := deliver(r.id, r.data); err != nil {
				return err
			}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.failed(r)
		if r.bad {
			f.struck[r.p] = true
			if x.Strike(r.p, fmt.Sprintf("snapshot chunk %s at height %d: %v", r.id, height, r.err)) {
				f.drop(r.p)
			}
			continue
		}
		x.cfg.Logger.Debug("snapshot chunk fetch failed", "peer", r.p, "height", height, "chunk", r.id, "err", r.err)
		if f.errors[r.p]++; f.errors[r.p] >= maxChunkErrors {
			f.drop(r.p)
		}
	}
}

// fetchChunksOf is one of a peer's fetching goroutines in FetchChunks: it
// asks p each chunk it takes from ch, verifies what comes and reports it
// on results, until ch is closed.
func (x *Host) fetchChunksOf(fctx context.Context, p peer.ID, height uint64, ch <-chan ChunkID,
	verify func(p peer.ID, id ChunkID, data []byte) error, results chan<- chunkResult) {
	for id := range ch {
		res := chunkResult{p: p, id: id}
		// A busy peer is asked again after a pause: it holds the
		// chunk, and may be the only peer that does.
		for try := 1; ; try++ {
			res.data, res.err = x.FetchChunk(fctx, p, height, id.List, id.Index)
			if !errors.Is(res.err, ErrBusy) || try == maxBusyTries {
				break
			}
			select {
			case <-time.After(busyPause):
			case <-fctx.Done():
			}
		}
		if res.err == nil {
			if err := verify(p, id, res.data); err != nil {
				res.data, res.err, res.bad = nil, err, true
			}
		}
		results <- res
	}
}

// chunkResult is what a peer's fetching goroutine reports of one chunk.
type chunkResult struct {
	p    peer.ID
	id   ChunkID
	data []byte
	err  error
	bad  bool // the chunk came but failed verify
}

// chunkFetch is the state of one FetchChunks, owned by its goroutine.
type chunkFetch struct {
	peers   []peer.ID                    // in the fetch, in the caller's order
	work    map[peer.ID]chan ChunkID     // each peer's goroutine's requests
	busy    map[peer.ID]int              // its requests in flight
	struck  map[peer.ID]bool             // served a chunk that failed its check
	errors  map[peer.ID]int              // transport errors
	pending []ChunkID                    // waiting for a peer, in order
	tried   map[ChunkID]map[peer.ID]bool // the peers that failed a chunk
	lastErr map[ChunkID]error
	left    int // chunks not delivered
}

func newChunkFetch(self peer.ID, peers []peer.ID, chunks []ChunkID) *chunkFetch {
	f := &chunkFetch{work: map[peer.ID]chan ChunkID{}, busy: map[peer.ID]int{}, struck: map[peer.ID]bool{}, errors: map[peer.ID]int{},
		tried: map[ChunkID]map[peer.ID]bool{}, lastErr: map[ChunkID]error{}}
	seen := map[peer.ID]bool{self: true}
	for _, p := range peers {
		if !seen[p] {
			seen[p] = true
			f.peers = append(f.peers, p)
		}
	}
	for _, c := range chunks {
		if _, dup := f.tried[c]; !dup {
			f.tried[c] = map[peer.ID]bool{}
			f.pending = append(f.pending, c)
		}
	}
	f.left = len(f.pending)
	return f
}

// assign gives each peer with fewer than chunksInFlight requests (one,
// once a chunk it served failed its check) the first waiting chunks it
// has not failed, a peer after another, one at a time: the chunks spread
// over the peers.
func (f *chunkFetch) assign() {
	for given := true; given; {
		given = false
		for _, p := range f.peers {
			if f.busy[p] < f.room(p) && f.give(p) {
				given = true
			}
		}
	}
}

// room is how many requests p may have in flight: chunksInFlight, but one
// once a chunk it served failed its check. Such a peer is not sent a new
// request while its other answer is on its way: should that one be bad
// too, its second strike bans it before it is asked for more.
func (f *chunkFetch) room(p peer.ID) int {
	if f.struck[p] {
		return 1
	}
	return chunksInFlight
}

// give sends p the first waiting chunk it has not failed, if there is one.
func (f *chunkFetch) give(p peer.ID) bool {
	i := slices.IndexFunc(f.pending, func(c ChunkID) bool { return !f.tried[c][p] })
	if i < 0 {
		return false
	}
	c := f.pending[i]
	f.pending = slices.Delete(f.pending, i, i+1)
	f.busy[p]++
	f.work[p] <- c // room for chunksInFlight: never blocks
	return true
}

// failed puts a chunk a peer failed back in the queue.
func (f *chunkFetch) failed(r chunkResult) {
	f.tried[r.id][r.p] = true
	f.lastErr[r.id] = r.err
	f.pending = append(f.pending, r.id)
}

// drop takes a peer out of the fetch and ends its goroutines once their
// requests in flight have ended (their chunks still count if they pass).
func (f *chunkFetch) drop(p peer.ID) {
	if _, in := f.work[p]; !in {
		return // dropped already; a request it had in flight failed too
	}
	close(f.work[p])
	delete(f.work, p)
	f.peers = slices.DeleteFunc(f.peers, func(q peer.ID) bool { return q == p })
}

// stuck returns an error naming the first waiting chunk that every peer
// left in the fetch has failed.
func (f *chunkFetch) stuck(height uint64) error {
	for _, c := range f.pending {
		can := false
		for _, p := range f.peers {
			can = can || !f.tried[c][p]
		}
		if !can {
			last := f.lastErr[c]
			if last == nil {
				last = errors.New("no peer to ask")
			}
			return fmt.Errorf("%w: no peer left to serve chunk %s at height %d (last error: %w)", ErrSnapshot, c, height, last)
		}
	}
	return nil
}
