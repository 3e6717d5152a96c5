package p2p

import (
	"errors"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// The gossip router reads a peer's frames (a uvarint length, then the
// message) into a buffer of the announced length before the bytes
// arrive: a peer that announces a 16 MiB frame, sends most of it and
// stalls pins that memory for as long as it keeps the stream open, and
// identities are free. So a frame of more than largeFrame bytes (only
// proposals: batches of casts are at most 1 MiB) takes its room, for as
// long as its bytes are coming, in a budget of its own that works as the
// sync answers' (syncRoom): gossipFramesBytes in all, framesPerAddress
// from one address (an IPv4 address, an IPv6 /64). A frame that finds no
// room has its stream reset: the sender opens another (an honest
// validator's proposal then comes by the next stream or the pull of the
// height's messages).
const (
	largeFrame        = MaxTxMessage
	gossipFramesBytes = 128 << 20
	// Three proposals of the largest size from one address at once
	// (a devnet's validators share one address).
	framesPerAddress = 3 * MaxMessage
)

// errNoFrameRoom: a large gossip frame found no room.
var errNoFrameRoom = errors.New("p2p: no room for a large gossip frame from this address")

// gossipHost is the host as the gossip router sees it: the streams it is
// handed are roomStreams.
type gossipHost struct {
	host.Host
	room *syncRoom
}

func (g gossipHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	g.Host.SetStreamHandler(pid, g.wrap(handler))
}

func (g gossipHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	g.Host.SetStreamHandlerMatch(pid, match, g.wrap(handler))
}

func (g gossipHost) wrap(handler network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		c := s.Conn()
		handler(&roomStream{Stream: s, room: g.room, key: roomKey(c.RemoteMultiaddr(), c.RemotePeer())})
	}
}

// roomStream follows the frames read from a gossip stream and holds the
// room of a large one while its bytes come.
type roomStream struct {
	network.Stream
	room *syncRoom
	key  string

	mu    sync.Mutex
	size  uint64 // the length being read
	shift uint   // its bits read so far
	left  uint64 // bytes of the current frame still to come
	held  int64  // room held for it
}

func (s *roomStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	if ferr := s.follow(p[:n]); ferr != nil {
		s.Stream.Reset()
		return 0, ferr
	}
	if err != nil {
		// The stream ends (EOF, reset, closed): nothing more comes of
		// a frame begun.
		s.release()
	}
	return n, err
}

// follow reads the frames' lengths in the bytes b read, taking a large
// frame's room once its length is read and giving it back once its last
// byte is.
func (s *roomStream) follow(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(b) > 0 {
		if s.left > 0 {
			k := min(uint64(len(b)), s.left)
			s.left -= k
			b = b[k:]
			if s.left == 0 {
				s.giveLocked()
			}
			continue
		}
		c := b[0]
		b = b[1:]
		if s.shift > 63 {
			return errors.New("p2p: gossip frame length over 64 bits")
		}
		s.size |= uint64(c&0x7f) << s.shift
		if c&0x80 != 0 {
			s.shift += 7
			continue
		}
		size := s.size
		s.size, s.shift, s.left = 0, 0, size
		// Over MaxMessage the router refuses the frame itself.
		if size > largeFrame && size <= MaxMessage {
			if !s.room.take(s.key, int64(size)) {
				s.left = 0
				s.room.refused()
				return errNoFrameRoom
			}
			s.held = int64(size)
		}
	}
	return nil
}

func (s *roomStream) giveLocked() {
	s.room.give(s.key, s.held)
	s.held = 0
}

// release gives back the room of a frame cut off.
func (s *roomStream) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.left = 0
	s.giveLocked()
}

func (s *roomStream) Reset() error {
	err := s.Stream.Reset()
	s.release()
	return err
}

func (s *roomStream) ResetWithError(code network.StreamErrorCode) error {
	err := s.Stream.ResetWithError(code)
	s.release()
	return err
}

func (s *roomStream) Close() error {
	err := s.Stream.Close()
	s.release()
	return err
}
