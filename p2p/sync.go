package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// The block-sync protocol (docs/PROTOCOL.md §Block sync): the client
// writes one request, the server answers with its height and up to Count
// blocks from From, each with its commit, then closes the stream. Every
// frame is a uvarint length and a canonical CBOR item.

// SyncRequest asks for blocks From.. (Count 0: the height only), or, with
// Messages set, for the consensus messages the peer holds for that height.
type SyncRequest struct {
	From     uint64 `cbor:"1,keyasint"`
	Count    uint32 `cbor:"2,keyasint"`
	Messages uint64 `cbor:"3,keyasint,omitempty"`
}

// syncHeader opens a response.
type syncHeader struct {
	Height uint64 `cbor:"1,keyasint"`
	Count  uint32 `cbor:"2,keyasint"`
}

// Bounds of the protocol.
const (
	maxSyncRequest  = 64
	maxSyncResponse = 32 << 20 // bytes of blocks in one response
	syncTimeout     = 30 * time.Second
	// requestTimeout bounds the wait for a request of at most 64 bytes
	// (sync, snapshot): a peer that opens streams and sends nothing held
	// each for syncTimeout, and ~1,300 such streams from 20 identities
	// left no stream for an honest peer's sync.
	requestTimeout = 5 * time.Second
	// MaxServedPerPeer bounds the sync and snapshot streams one peer has
	// served at once; a further one is reset.
	MaxServedPerPeer = 8
)

// servedStreams counts the streams served to each peer at once.
type servedStreams struct {
	mu     sync.Mutex
	byPeer map[peer.ID]int
}

// limit wraps a stream handler: a peer with MaxServedPerPeer streams
// being served gets the next one reset at once.
func (c *servedStreams) limit(serve func(network.Stream)) network.StreamHandler {
	return func(s network.Stream) {
		p := s.Conn().RemotePeer()
		c.mu.Lock()
		if c.byPeer == nil {
			c.byPeer = map[peer.ID]int{}
		}
		if c.byPeer[p] >= MaxServedPerPeer {
			c.mu.Unlock()
			s.Reset()
			return
		}
		c.byPeer[p]++
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			if c.byPeer[p]--; c.byPeer[p] <= 0 {
				delete(c.byPeer, p)
			}
			c.mu.Unlock()
		}()
		serve(s)
	}
}

// ErrSync is returned for a peer's malformed or oversize sync answer.
var ErrSync = errors.New("block sync")

func (x *Host) syncProtocol() protocol.ID { return x.names.sync }

func (x *Host) serveSync(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(requestTimeout))
	r := bufio.NewReader(s)
	var req SyncRequest
	if err := readFrame(r, &req, maxSyncRequest); err != nil {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(syncTimeout))
	if req.Messages > 0 {
		x.serveMessages(s, req.Messages)
		return
	}
	count := min(int(req.Count), x.cfg.MaxSyncBlocks)
	var blocks []SyncBlock
	room := x.newAnswerRoom(s)
	defer room.release()
	if count > 0 && req.From > 0 {
		var err error
		if blocks, err = x.handler.SyncBlocks(req.From, count, maxSyncResponse, room); err != nil {
			x.cfg.Logger.Debug("sync request failed", "from", req.From, "err", err)
		}
		if room.refused {
			x.cfg.Logger.Debug("sync answer cut short: the answers served hold their memory", "peer", room.p, "from", req.From, "blocks", len(blocks))
		}
	}
	w := bufio.NewWriter(s)
	if err := writeFrame(w, syncHeader{Height: x.handler.Height(), Count: uint32(len(blocks))}); err != nil {
		s.Reset()
		return
	}
	for i, b := range blocks {
		if err := writeBlockFrame(w, b); err != nil {
			s.Reset()
			return
		}
		// Written: its bytes are the stream's now, not the answer's.
		blocks[i] = SyncBlock{}
		room.Give(len(b.Block) + len(b.Commit))
	}
	w.Flush()
}

// FetchBlocks asks peer p for up to count final blocks from height from
// and returns them decoded, with the peer's height. The caller verifies
// each commit before using a block.
func (x *Host) FetchBlocks(ctx context.Context, p peer.ID, from uint64, count int) (height uint64, blocks []*consensus.Block, commits []*consensus.Commit, err error) {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	r, done, err := x.request(ctx, p, SyncRequest{From: from, Count: uint32(min(count, x.cfg.MaxSyncBlocks))})
	if err != nil {
		return 0, nil, nil, err
	}
	defer done()
	var hdr syncHeader
	if err := readFrame(r, &hdr, 64); err != nil {
		return 0, nil, nil, fmt.Errorf("%w: header from %s: %v", ErrSync, p, err)
	}
	if int(hdr.Count) > count {
		return 0, nil, nil, fmt.Errorf("%w: %s sent %d blocks, %d asked", ErrSync, p, hdr.Count, count)
	}
	x.sawHeight(p, hdr.Height)
	for i := range int(hdr.Count) {
		sb, err := readBlockFrame(r, maxSyncResponse)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("%w: block %d from %s: %v", ErrSync, from+uint64(i), p, err)
		}
		b, err := consensus.DecodeBlock(sb.Block)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("%w: %v", ErrSync, err)
		}
		c, err := consensus.DecodeCommit(sb.Commit)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("%w: %v", ErrSync, err)
		}
		if b.Header.Height != from+uint64(i) {
			return 0, nil, nil, fmt.Errorf("%w: %s sent block %d for %d", ErrSync, p, b.Header.Height, from+uint64(i))
		}
		blocks = append(blocks, b)
		commits = append(commits, c)
	}
	return hdr.Height, blocks, commits, nil
}

// request opens a sync stream to p, writes req and returns the reader of
// the answer, and done to call when it is read.
func (x *Host) request(ctx context.Context, p peer.ID, req SyncRequest) (r *bufio.Reader, done func(), err error) {
	return x.ask(ctx, p, x.names.sync, req, maxSyncResponse+1<<20)
}

// ask opens a stream of protocol proto to p, writes req as one frame,
// closes its writing side and returns the reader of the answer, which
// reads at most limit bytes, and done to call when it is read. The stream
// ends with ctx: its deadline is the stream's, and its cancellation resets
// the stream, so that a read in progress returns at once.
func (x *Host) ask(ctx context.Context, p peer.ID, proto protocol.ID, req any, limit int64) (r *bufio.Reader, done func(), err error) {
	s, err := x.h.NewStream(ctx, p, proto)
	if err != nil {
		return nil, nil, err
	}
	unwatch := context.AfterFunc(ctx, func() { s.Reset() })
	done = func() {
		unwatch()
		s.Close()
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	w := bufio.NewWriter(s)
	if err := writeFrame(w, req); err != nil {
		done()
		return nil, nil, err
	}
	if err := w.Flush(); err != nil {
		done()
		return nil, nil, err
	}
	s.CloseWrite()
	return bufio.NewReader(io.LimitReader(s, limit)), done, nil
}

// SyncPeers returns the connected peers that speak the sync protocol.
func (x *Host) SyncPeers() []peer.ID { return x.peersSpeaking(x.names.sync) }

// peersSpeaking returns the connected peers that, as identify told, speak
// protocol proto.
func (x *Host) peersSpeaking(proto protocol.ID) []peer.ID {
	var out []peer.ID
	for _, p := range x.h.Network().Peers() {
		if protos, err := x.h.Peerstore().SupportsProtocols(p, proto); err == nil && len(protos) > 0 {
			out = append(out, p)
		}
	}
	return out
}

func writeFrame(w *bufio.Writer, v any) error {
	data := canon.MustMarshal(v)
	var n [binary.MaxVarintLen64]byte
	if _, err := w.Write(n[:binary.PutUvarint(n[:], uint64(len(data)))]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// writeBlockFrame writes b's frame as writeFrame does, the same bytes,
// without a copy of the block's (a block answer's room counts each block
// once: writeFrame's encoding was a second copy of the block being
// written, uncounted). The canonical encoding of SyncBlock is a map of
// two entries, keys 1 and 2, each a byte string (RFC 8949 §3: a head of
// major type 2, then the bytes).
func writeBlockFrame(w *bufio.Writer, b SyncBlock) error {
	var head1, head2 [11]byte
	h1 := canon.AppendHead(append(head1[:0], 0xa2, 0x01), canon.MajorBytes, uint64(len(b.Block))) // map of 2; key 1
	h2 := canon.AppendHead(append(head2[:0], 0x02), canon.MajorBytes, uint64(len(b.Commit)))      // key 2
	n := len(h1) + len(b.Block) + len(h2) + len(b.Commit)
	var l [binary.MaxVarintLen64]byte
	for _, part := range [][]byte{l[:binary.PutUvarint(l[:], uint64(n))], h1, b.Block, h2, b.Commit} {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	return nil
}

func readFrame(r *bufio.Reader, v any, max int) error {
	buf, err := readFrameBytes(r, max)
	if err != nil {
		return err
	}
	return canon.Unmarshal(buf, v, max)
}

// readFrameBytes reads a frame's length and its bytes, at most max.
func readFrameBytes(r *bufio.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("frame of %d bytes, at most %d", n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// readBlockFrame is readFrame for a block and its commit. The frame a
// server writes (writeBlockFrame's) is split where it lies, the block and
// the commit left as slices of it: canon.Unmarshal copied the block out
// of the frame and encoded it again to compare, for a frame that is
// canonical by its shape. Any other frame goes to canon.Unmarshal, which
// accepts or refuses it as before.
func readBlockFrame(r *bufio.Reader, max int) (SyncBlock, error) {
	buf, err := readFrameBytes(r, max)
	if err != nil {
		return SyncBlock{}, err
	}
	if sb, ok := syncBlockOfBytes(buf); ok {
		return sb, nil
	}
	var sb SyncBlock
	err = canon.Unmarshal(buf, &sb, max)
	return sb, err
}

// syncBlockOfBytes splits {1: block bytes, 2: commit bytes}, each head in
// its shortest form and nothing after; ok false for anything else.
func syncBlockOfBytes(buf []byte) (sb SyncBlock, ok bool) {
	if len(buf) < 2 || buf[0] != 0xa2 || buf[1] != 0x01 {
		return SyncBlock{}, false
	}
	n, rest, ok := canon.ReadHead(buf[2:], canon.MajorBytes)
	if !ok || n >= uint64(len(rest)) || rest[n] != 0x02 {
		return SyncBlock{}, false
	}
	sb.Block, rest = rest[:n:n], rest[n+1:]
	if n, rest, ok = canon.ReadHead(rest, canon.MajorBytes); !ok || n != uint64(len(rest)) {
		return SyncBlock{}, false
	}
	sb.Commit = rest[:n:n]
	return sb, true
}

// maxPulledMessages bounds the messages of one pull answer.
const maxPulledMessages = 4096

func (x *Host) serveMessages(s network.Stream, height uint64) {
	msgs := pullAnswer(x.handler.ConsensusMessages(height))
	// The messages are the driver's; what the answer holds is the
	// encoding of the one being written, up to a proposal of a full
	// block (a vote: a few hundred bytes), until a reader that does not
	// read lets the write time out: that room is taken for the whole
	// answer, in the budget of the block answers. None left within 5 s:
	// the answer holds no message.
	need := 64 << 10
	for _, m := range msgs {
		if m.Proposal != nil {
			need = BlockRoom(x.cfg.Genesis.Params)
		}
	}
	room := x.newAnswerRoom(s)
	defer room.release()
	if len(msgs) > 0 && !room.Take(need) {
		x.cfg.Logger.Debug("messages answer cut short: the answers served hold their memory", "peer", room.p, "height", height, "messages", len(msgs))
		msgs = nil
	}
	w := bufio.NewWriter(s)
	if err := writeFrame(w, syncHeader{Height: x.handler.Height(), Count: uint32(len(msgs))}); err != nil {
		s.Reset()
		return
	}
	for _, m := range msgs {
		if err := writeFrame(w, m); err != nil {
			s.Reset()
			return
		}
	}
	w.Flush()
}

// pullAnswer keeps of the messages held for a height, in their order,
// the first maxPulledMessages whose frames fit together in
// maxSyncResponse bytes (a message that does not fit is left out, the
// smaller ones after it are kept): the client reads at most
// maxSyncResponse + 1 MiB of an answer and drops one beyond (three
// rounds' proposals of 12 MiB blocks were such an answer).
func pullAnswer(msgs []*consensus.Message) []*consensus.Message {
	out := make([]*consensus.Message, 0, min(len(msgs), maxPulledMessages))
	total := 0
	for _, m := range msgs {
		if len(out) == maxPulledMessages {
			break
		}
		if n := messageFrameBound(m); total+n <= maxSyncResponse {
			out = append(out, m)
			total += n
		}
	}
	return out
}

// messageFrameBound bounds the bytes of m's frame without encoding it: a
// vote's fields are a few hundred bytes; a proposal is its block's
// transactions, each with a byte-string head of at most 9 bytes, and a
// header and fields of less than 4 KiB.
func messageFrameBound(m *consensus.Message) int {
	if m.Proposal == nil {
		return 1 << 10
	}
	n := 4 << 10
	for _, tx := range m.Proposal.Block.Txs {
		n += len(tx) + 9
	}
	return n
}

// PullMessages asks peer p for the consensus messages it holds for a
// height. The caller verifies each one (the driver's Deliver does).
func (x *Host) PullMessages(ctx context.Context, p peer.ID, height uint64) ([]*consensus.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	r, done, err := x.request(ctx, p, SyncRequest{Messages: height})
	if err != nil {
		return nil, err
	}
	defer done()
	var hdr syncHeader
	if err := readFrame(r, &hdr, 64); err != nil {
		return nil, fmt.Errorf("%w: header from %s: %v", ErrSync, p, err)
	}
	x.sawHeight(p, hdr.Height)
	if hdr.Count > maxPulledMessages {
		return nil, fmt.Errorf("%w: %s sent %d messages", ErrSync, p, hdr.Count)
	}
	out := make([]*consensus.Message, 0, hdr.Count)
	for range hdr.Count {
		var m consensus.Message
		if err := readFrame(r, &m, MaxMessage); err != nil {
			return nil, fmt.Errorf("%w: message from %s: %v", ErrSync, p, err)
		}
		if (m.Proposal == nil) == (m.Vote == nil) {
			return nil, fmt.Errorf("%w: %s sent an empty message", ErrSync, p)
		}
		out = append(out, &m)
	}
	return out, nil
}

// pullTimeout bounds one peer's answer to a pull.
const pullTimeout = 10 * time.Second

// PullFromSyncPeers asks every peer that speaks the sync protocol for the
// consensus messages it holds for a height, and hands each to deliver (the
// driver's Deliver, which verifies it); a peer's answer stops at deliver's
// first error. It returns at once: the pulls are goroutines of the host's
// life, at most one in flight per peer, and Close waits for them.
func (x *Host) PullFromSyncPeers(height uint64, deliver func(*consensus.Message) error) {
	for _, p := range x.SyncPeers() {
		if _, busy := x.pulling.LoadOrStore(p, true); busy {
			continue
		}
		x.spawn(func(ctx context.Context) {
			defer x.pulling.Delete(p)
			ctx, cancel := context.WithTimeout(ctx, pullTimeout)
			defer cancel()
			msgs, err := x.PullMessages(ctx, p, height)
			if err != nil {
				x.cfg.Logger.Debug("message pull failed", "peer", p, "height", height, "err", err)
				return
			}
			for _, m := range msgs {
				if deliver(m) != nil {
					return
				}
			}
		})
	}
}
