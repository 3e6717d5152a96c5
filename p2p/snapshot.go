package p2p

// The snapshot protocol: a new node fetches the application state at a
// recent height from several peers, chunk by chunk, and checks each chunk
// against a hash the validators signed (the caller's verify does; p2p
// knows neither manifests nor chunks, only bytes).
//
// Protocol id: /cocorico/<chain id>-<first 4 bytes of the genesis hash,
// hex>/snapshot/1. One request a stream: the client writes one frame and
// closes its writing side; the server answers one frame and closes the
// stream. Every frame is a uvarint length and a canonical CBOR item
// (canon: deterministic encoding, strict decoder), as in block sync.
//
// Requests, a map with integer keys (at most 64 bytes):
//
//	{1: 0}                                       list the manifests
//	{1: 1, 2: height, 3: list, 4: index}         fetch one chunk
//
// height is a uint64, list a uint 0..255, index a uint32; a chunk request
// carries all four keys, a list request only key 1. Anything else (an
// unknown kind, a missing or extra key, a non-canonical encoding, a frame
// over 64 bytes) makes the server reset the stream.
//
// Answers:
//
//	{1: [manifest, …]}   to a list: byte strings, newest first, at most 16,
//	                     each at most 8 MiB, at most 16 MiB in all; [] from
//	                     a node that serves no snapshot
//	{1: chunk}           to a chunk request: a byte string of at most 64 MiB
//	{2: reason}          to a chunk request the server does not answer with
//	                     the chunk: a text of at most 200 bytes ("not held",
//	                     "no snapshots served", "too large", "busy")
//
// The server gives a stream 30 s (a list) or 2 min (a chunk) from its
// opening; the client its own deadlines, the same. Both sides bound every
// frame before reading it.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// SnapshotSource is what a node that serves snapshots offers.
type SnapshotSource interface {
	// SnapshotManifests returns the manifests of the snapshots the node
	// holds, newest first, as opaque canonical CBOR.
	SnapshotManifests() [][]byte
	// SnapshotChunk returns one chunk of the snapshot at a height, as
	// opaque bytes; an error when the node does not hold it (the error is
	// logged, not sent: the peer is answered "not held").
	SnapshotChunk(height uint64, list uint8, index uint32) ([]byte, error)
}

// ChunkID names a chunk of a snapshot: its list and its index in the list.
type ChunkID struct {
	List  uint8
	Index uint32
}

// String writes a chunk id as list/index.
func (c ChunkID) String() string { return fmt.Sprintf("%d/%d", c.List, c.Index) }

// Bounds of the snapshot protocol.
const (
	maxSnapshotRequest = 64
	// MaxManifests bounds the manifests of a list answer.
	MaxManifests = 16
	// MaxManifest bounds one manifest.
	MaxManifest = 8 << 20
	// maxManifestsTotal bounds the manifests of a list answer together.
	maxManifestsTotal = 16 << 20
	// MaxChunk bounds one chunk.
	MaxChunk = 64 << 20
	// maxReason bounds the reason of a chunk refused.
	maxReason = 200
	// frameSlack is room for the CBOR heads around the bytes of an
	// answer: a map, its keys, an array, byte-string heads.
	frameSlack = 1 << 10
	// chunkTimeout bounds a chunk's answer (a list's is syncTimeout).
	chunkTimeout = 2 * time.Minute
	// maxServedChunks bounds the chunk answers a node prepares (reads) at
	// once; beyond that a request is answered "busy". Once read, a chunk
	// holds room of the sync answers' budget (syncroom.go) until written,
	// or is answered "busy" when none is left.
	maxServedChunks = 4
	// maxServedChunksPerAddress bounds those of one address (roomKey):
	// many identities from one address leave the other half to others.
	maxServedChunksPerAddress = maxServedChunks / 2
	// maxStrikes bounds the strike table; the oldest strike is forgotten
	// first.
	maxStrikes = 4096
	// maxChunkErrors is how many transport errors drop a peer from a fetch.
	maxChunkErrors = 3
	// maxBusyTries and busyPause: a peer that answers a chunk "busy" is
	// asked again after busyPause, up to maxBusyTries times in all, before
	// the chunk counts as failed there.
	maxBusyTries = 3
	busyPause    = time.Second
)

// Kinds of snapshot request.
const (
	snapshotList  = 0
	snapshotChunk = 1
)

// Errors of the snapshot protocol.
var (
	// ErrSnapshot is returned for a peer's malformed or oversize snapshot
	// answer, and by FetchChunks when no peer is left for a chunk.
	ErrSnapshot = errors.New("snapshot")
	// ErrNotHeld is returned when a peer answers a chunk request with a
	// reason instead of the chunk.
	ErrNotHeld = errors.New("snapshot chunk not served")
	// ErrBusy is returned, with ErrNotHeld, when a peer answers "busy":
	// it had no room for the chunk at that moment.
	ErrBusy = errors.New("busy")
)

// snapshotRequest is a request; the pointers keep a chunk request's zero
// list or index on the wire and a list request's fields off it.
type snapshotRequest struct {
	Kind   uint8   `cbor:"1,keyasint"`
	Height *uint64 `cbor:"2,keyasint,omitempty"`
	List   *uint8  `cbor:"3,keyasint,omitempty"`
	Index  *uint32 `cbor:"4,keyasint,omitempty"`
}

// valid reports whether the request is one of the two shapes.
func (r *snapshotRequest) valid() bool {
	switch r.Kind {
	case snapshotList:
		return r.Height == nil && r.List == nil && r.Index == nil
	case snapshotChunk:
		return r.Height != nil && r.List != nil && r.Index != nil
	}
	return false
}

// manifestsAnswer answers a list request.
type manifestsAnswer struct {
	Manifests [][]byte `cbor:"1,keyasint"`
}

// chunkAnswer answers a chunk request: exactly one of the two is set (a
// pointer, so that an empty chunk is still a chunk).
type chunkAnswer struct {
	Chunk  *[]byte `cbor:"1,keyasint,omitempty"`
	Reason string  `cbor:"2,keyasint,omitempty"`
}

// snapshots is a host's share of the snapshot protocol: the source it
// serves, the chunk answers in preparation and the strike table.
type snapshots struct {
	src atomic.Pointer[SnapshotSource]

	mu        sync.Mutex
	serving   int                // chunk answers being read
	servingBy map[string]int     // of each address (roomKey)
	strikes   map[peer.ID]strike // the last strike of each peer
	struck    uint64             // strikes recorded, to order them
}

// startReading reports whether a chunk answer to address key may be read
// now (maxServedChunks, maxServedChunksPerAddress), and counts it if so.
func (s *snapshots) startReading(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving >= maxServedChunks || s.servingBy[key] >= maxServedChunksPerAddress {
		return false
	}
	if s.servingBy == nil {
		s.servingBy = map[string]int{}
	}
	s.serving++
	s.servingBy[key]++
	return true
}

// doneReading counts a chunk answer read.
func (s *snapshots) doneReading(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serving--
	if s.servingBy[key]--; s.servingBy[key] <= 0 {
		delete(s.servingBy, key)
	}
}

// strike is a peer's last strike: when, and its rank among all.
type strike struct {
	at  time.Time
	seq uint64
}

// ServeSnapshots makes the host serve the snapshots of src. The stream
// handler is registered by New for every host: until ServeSnapshots (or
// without it) the host answers a list with no manifests and a chunk
// request with "no snapshots served", so that a peer asking learns it
// has nothing rather than a protocol error. It may be called at any time,
// from any goroutine; a later call replaces src.
func (x *Host) ServeSnapshots(src SnapshotSource) { x.snap.src.Store(&src) }

func (x *Host) snapshotSource() SnapshotSource {
	if p := x.snap.src.Load(); p != nil {
		return *p
	}
	return nil
}

func (x *Host) serveSnapshot(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(requestTimeout))
	r := bufio.NewReader(s)
	var req snapshotRequest
	if err := readFrame(r, &req, maxSnapshotRequest); err != nil || !req.valid() {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(syncTimeout))
	var answer any
	if req.Kind == snapshotList {
		answer = manifestsAnswer{Manifests: x.servedManifests()}
	} else {
		s.SetDeadline(time.Now().Add(chunkTimeout))
		room := x.newAnswerRoom(s)
		defer room.release()
		answer = x.servedChunk(room, *req.Height, *req.List, *req.Index)
	}
	w := bufio.NewWriter(s)
	if err := writeFrame(w, answer); err != nil {
		s.Reset()
		return
	}
	w.Flush()
}

// servedManifests are the newest manifests of the source that fit the
// bounds of a list answer; never nil, so that none is [] on the wire.
func (x *Host) servedManifests() [][]byte {
	out := [][]byte{}
	src := x.snapshotSource()
	if src == nil {
		return out
	}
	total := 0
	for _, m := range src.SnapshotManifests() {
		if len(out) == MaxManifests || total+len(m) > maxManifestsTotal {
			break
		}
		if len(m) > MaxManifest {
			x.cfg.Logger.Warn("snapshot manifest too large to serve", "bytes", len(m))
			continue
		}
		out = append(out, m)
		total += len(m)
	}
	return out
}

// servedChunk is the answer to a chunk request of room's peer. The chunk
// holds room until its answer is written (room.release): twice its bytes,
// the chunk and its frame, at most a peer's whole room.
func (x *Host) servedChunk(room *answerRoom, height uint64, list uint8, index uint32) chunkAnswer {
	p := room.p
	src := x.snapshotSource()
	if src == nil {
		return chunkAnswer{Reason: "no snapshots served"}
	}
	if !x.snap.startReading(room.key) {
		return chunkAnswer{Reason: "busy"}
	}
	defer x.snap.doneReading(room.key)
	data, err := src.SnapshotChunk(height, list, index)
	switch {
	case err != nil:
		x.cfg.Logger.Debug("snapshot chunk not served", "peer", p, "height", height, "chunk", ChunkID{list, index}, "err", err)
		return chunkAnswer{Reason: "not held"}
	case len(data) > MaxChunk:
		x.cfg.Logger.Warn("snapshot chunk too large to serve", "height", height, "chunk", ChunkID{list, index}, "bytes", len(data))
		return chunkAnswer{Reason: "too large"}
	}
	if !room.Take(int(min(2*int64(len(data))+frameSlack, x.room.perPeer))) {
		return chunkAnswer{Reason: "busy"}
	}
	if data == nil {
		data = []byte{}
	}
	return chunkAnswer{Chunk: &data}
}

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
	x.cfg.Logger.Warn("peer banned for bad data", "peer", p, "reason", reason)
	x.gater.ban(p, banDuration)
	x.h.Network().ClosePeer(p)
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

// FetchChunks fetches every chunk of the snapshot at height from peers,
// one request outstanding per peer, each chunk given to the next free
// peer. verify is called (from the fetching goroutine of that peer) on
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
	results := make(chan chunkResult, len(f.peers)) // a request in flight a peer
	var wg sync.WaitGroup
	for _, p := range f.peers {
		ch := make(chan ChunkID, 1)
		f.work[p] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		}()
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
		delete(f.busy, r.p)
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
	busy    map[peer.ID]bool             // a request in flight
	errors  map[peer.ID]int              // transport errors
	pending []ChunkID                    // waiting for a peer, in order
	tried   map[ChunkID]map[peer.ID]bool // the peers that failed a chunk
	lastErr map[ChunkID]error
	left    int // chunks not delivered
}

func newChunkFetch(self peer.ID, peers []peer.ID, chunks []ChunkID) *chunkFetch {
	f := &chunkFetch{work: map[peer.ID]chan ChunkID{}, busy: map[peer.ID]bool{}, errors: map[peer.ID]int{},
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

// assign gives each free peer the first waiting chunk it has not failed.
func (f *chunkFetch) assign() {
	for _, p := range f.peers {
		if f.busy[p] {
			continue
		}
		for i, c := range f.pending {
			if !f.tried[c][p] {
				f.pending = append(f.pending[:i], f.pending[i+1:]...)
				f.busy[p] = true
				f.work[p] <- c // a free peer's goroutine waits: never blocks
				break
			}
		}
	}
}

// failed puts a chunk a peer failed back in the queue.
func (f *chunkFetch) failed(r chunkResult) {
	f.tried[r.id][r.p] = true
	f.lastErr[r.id] = r.err
	f.pending = append(f.pending, r.id)
}

// drop takes a free peer out of the fetch and ends its goroutine.
func (f *chunkFetch) drop(p peer.ID) {
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
