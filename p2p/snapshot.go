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
// The server gives a stream 5 s to send its request, then 30 s (a list)
// or 2 min (a chunk) from the request's arrival; the client its own
// deadlines, the same. Both sides bound every
// frame before reading it.

import (
	"bufio"
	"errors"
	"fmt"
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
	// chunksInFlight is how many chunk requests a joining node keeps in
	// flight with each peer: while the peer reads the next chunk, the
	// last one travels and is verified and written (with one, each step
	// waited for the others: a join from one peer was a chunk per round
	// trip). No more than a server reads for one address at once.
	chunksInFlight = maxServedChunksPerAddress
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

	// reads counts the chunk answers being read, in all and by address
	// (roomKey): maxServedChunks, maxServedChunksPerAddress (a syncRoom
	// of answers, not bytes).
	reads *syncRoom

	mu      sync.Mutex
	strikes map[peer.ID]strike // the last strike of each peer
	struck  uint64             // strikes recorded, to order them
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
	if !x.snap.reads.take(room.key, 1) {
		return chunkAnswer{Reason: "busy"}
	}
	defer x.snap.reads.give(room.key, 1)
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
