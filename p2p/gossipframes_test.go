package p2p

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// stallFrame connects a fresh identity to x, opens a gossip stream,
// announces a frame of size bytes, sends a few of them and stalls.
func stallFrame(t *testing.T, x *Host, size uint64) network.Stream {
	t.Helper()
	_, s := gossipStream(t, x)
	frame := binary.AppendUvarint(nil, size)
	if _, err := s.Write(append(frame, make([]byte, 1000)...)); err != nil {
		t.Fatal(err)
	}
	return s
}

// A peer that announces a large gossip frame and stalls holds its room
// while it does, within a bound per address: a frame beyond it has its
// stream reset at once, and the room comes back when a stalled stream
// ends. (The router allocates a frame's whole length before its bytes
// come: without the bound, free identities each pinned 16 MiB.)
func TestStalledLargeGossipFramesHoldABoundedRoomAndABeyondOneIsReset(t *testing.T) {
	g, keys := testGenesis(1)
	server := runHost(t, Config{Key: keys[0], Genesis: g, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}, &recordingHandler{})
	inUse := func() int64 { b, _ := server.GossipFrames(); return b }
	var held []network.Stream
	for i := range framesPerAddress / MaxMessage {
		held = append(held, stallFrame(t, server, MaxMessage))
		eventually(t, "the stalled frame's room taken", func() bool { return inUse() == int64(i+1)*MaxMessage })
	}
	// The address's share is full: the next frame's stream is reset.
	beyond := stallFrame(t, server, MaxMessage)
	beyond.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := beyond.Read(make([]byte, 1)); err == nil || errorsIsTimeout(err) {
		t.Fatalf("a frame beyond the address's share: read %v, want its stream reset", err)
	}
	if b, refused := server.GossipFrames(); b != framesPerAddress || refused != 1 {
		t.Fatalf("after the refusal: %d bytes held, %d refused; want %d and 1", b, refused, framesPerAddress)
	}
	// A stalled stream that ends gives its room back.
	held[0].Reset()
	eventually(t, "the ended stream's room given back", func() bool { return inUse() == framesPerAddress-MaxMessage })
	for _, s := range held[1:] {
		s.Reset()
	}
	eventually(t, "every room given back", func() bool { return inUse() == 0 })
}

func errorsIsTimeout(err error) bool {
	ne, ok := err.(interface{ Timeout() bool })
	return ok && ne.Timeout()
}

// The frames' lengths are followed across reads, however the bytes are
// cut: a frame no larger than a batch of casts takes no room; a larger
// one takes its length from the moment its length is read until its last
// byte; one over MaxMessage (the router refuses it) takes none.
func TestAGossipFrameTakesRoomOnlyWhenLargerThanACastsBatchAndUntilItsLastByte(t *testing.T) {
	s := &roomStream{room: newSyncRoom(gossipFramesBytes, framesPerAddress), key: "192.0.2.1"}
	feed := func(what string, b []byte, want int64) {
		t.Helper()
		for len(b) > 0 { // three bytes at a time: lengths and frames cut anywhere
			k := min(3, len(b))
			if err := s.follow(b[:k]); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			b = b[k:]
		}
		if got := s.room.inUse(); got != want {
			t.Fatalf("%s: %d bytes of room held, want %d", what, got, want)
		}
	}
	feed("a whole frame of a casts batch's largest size", append(binary.AppendUvarint(nil, MaxTxMessage), make([]byte, MaxTxMessage)...), 0)
	const large = MaxTxMessage + 1
	feed("a large frame's length and all but its last byte", append(binary.AppendUvarint(nil, large), make([]byte, large-1)...), large)
	feed("its last byte", []byte{0}, 0)
	feed("the length of a frame over MaxMessage", binary.AppendUvarint(nil, MaxMessage+1), 0)
}
