package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// snapHeight is the height of the test snapshots.
const snapHeight = 40

// chunkServer is a SnapshotSource of the test snapshot: chunks it holds
// at snapHeight. A corrupt one flips a byte of every chunk; a gated one
// serves a chunk only once gate is closed. served counts the chunk
// requests it took, and onServe (if set) is told each new count.
type chunkServer struct {
	manifests [][]byte
	chunks    map[ChunkID][]byte
	corrupt   bool
	gate      chan struct{}
	onServe   func(n int32)
	served    atomic.Int32
}

var _ SnapshotSource = (*chunkServer)(nil)

func (s *chunkServer) SnapshotManifests() [][]byte { return s.manifests }

func (s *chunkServer) SnapshotChunk(height uint64, list uint8, index uint32) ([]byte, error) {
	n := s.served.Add(1)
	if s.onServe != nil {
		s.onServe(n)
	}
	if s.gate != nil {
		<-s.gate
	}
	c, ok := s.chunks[ChunkID{list, index}]
	if height != snapHeight || !ok {
		return nil, errors.New("no such chunk")
	}
	c = bytes.Clone(c)
	if s.corrupt {
		c[len(c)/2] ^= 1
	}
	return c, nil
}

// testChunks are n chunks over two lists, each of a few KiB, distinct.
func testChunks(n int) (map[ChunkID][]byte, []ChunkID) {
	all := map[ChunkID][]byte{}
	var ids []ChunkID
	for i := range n {
		id := ChunkID{List: uint8(i % 2), Index: uint32(i / 2)}
		all[id] = bytes.Repeat([]byte(fmt.Sprintf("chunk %s ", id)), 500+i)
		ids = append(ids, id)
	}
	return all, ids
}

// checkAgainst is a verify that compares a chunk's SHA-256 with the
// expected chunk's, as the node compares it with the signed manifest's.
func checkAgainst(want map[ChunkID][]byte) func(peer.ID, ChunkID, []byte) error {
	return func(_ peer.ID, id ChunkID, data []byte) error {
		if sha256.Sum256(data) != sha256.Sum256(want[id]) {
			return fmt.Errorf("chunk %s does not match its hash", id)
		}
		return nil
	}
}

// collector is a deliver that keeps the chunks and fails the test if two
// deliveries overlap or one chunk comes twice.
type collector struct {
	t    *testing.T
	in   atomic.Bool
	mu   sync.Mutex
	got  map[ChunkID][]byte
	from map[peer.ID]int
}

func newCollector(t *testing.T) *collector {
	return &collector{t: t, got: map[ChunkID][]byte{}, from: map[peer.ID]int{}}
}

func (c *collector) deliver(id ChunkID, data []byte) error {
	if !c.in.CompareAndSwap(false, true) {
		c.t.Error("two deliveries at once")
	}
	defer c.in.Store(false)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.got[id]; dup {
		c.t.Errorf("chunk %s delivered twice", id)
	}
	c.got[id] = data
	return nil
}

// verify wraps a check and counts the chunks each peer served that passed.
func (c *collector) verify(check func(peer.ID, ChunkID, []byte) error) func(peer.ID, ChunkID, []byte) error {
	return func(p peer.ID, id ChunkID, data []byte) error {
		if err := check(p, id, data); err != nil {
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.from[p]++
		return nil
	}
}

func (c *collector) matches(want map[ChunkID][]byte) {
	c.t.Helper()
	if len(c.got) != len(want) {
		c.t.Fatalf("%d chunks delivered, want %d", len(c.got), len(want))
	}
	for id, data := range want {
		if !bytes.Equal(c.got[id], data) {
			c.t.Fatalf("chunk %s delivered wrong", id)
		}
	}
}

// serving makes hosts 1.. of tn serve the given sources; it returns
// their ids.
func (tn *testNet) serving(srcs ...SnapshotSource) []peer.ID {
	var ids []peer.ID
	for i, s := range srcs {
		tn.hosts[i+1].ServeSnapshots(s)
		ids = append(ids, tn.hosts[i+1].ID())
	}
	return ids
}

func TestFetchChunksGetsEveryChunkFromSeveralPeers(t *testing.T) {
	tn := newTestNet(t, 4)
	want, ids := testChunks(12)
	peers := tn.serving(&chunkServer{chunks: want}, &chunkServer{chunks: want}, &chunkServer{chunks: want})
	c := newCollector(t)
	if err := tn.hosts[0].FetchChunks(context.Background(), peers, snapHeight, ids, c.verify(checkAgainst(want)), c.deliver); err != nil {
		t.Fatal(err)
	}
	c.matches(want)
	// Each peer is given a chunk at once (there are more chunks than peers).
	for _, p := range peers {
		if c.from[p] == 0 {
			t.Errorf("peer %s served no chunk", p)
		}
		if tn.hosts[0].Banned(p) {
			t.Errorf("honest peer %s banned", p)
		}
	}
}

// A joining node keeps chunksInFlight requests in flight with each peer:
// the peer reads the next chunk while the last travels and is checked.
// The server here holds its first answer until a second request comes:
// with one request at a time the fetch would wait for ever (here, until
// its context ends).
func TestFetchChunksKeepsTwoRequestsInFlightWithOnePeer(t *testing.T) {
	tn := newTestNet(t, 2)
	want, ids := testChunks(6)
	gate := make(chan struct{})
	src := &chunkServer{chunks: want, gate: gate}
	src.onServe = func(n int32) {
		if n == chunksInFlight {
			close(gate)
		}
	}
	peers := tn.serving(src)
	c := newCollector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tn.hosts[0].FetchChunks(ctx, peers, snapHeight, ids, c.verify(checkAgainst(want)), c.deliver); err != nil {
		t.Fatalf("%v: the peer never had %d chunk requests in flight at once", err, chunksInFlight)
	}
	c.matches(want)
}

func TestAPeerServingACorruptedChunkIsStruckBannedAndTheChunkFetchedElsewhere(t *testing.T) {
	tn := newTestNet(t, 4)
	want, ids := testChunks(12)
	// The honest peers hold their first chunk until the corrupt one has
	// been asked for two: it fails two checks while chunks still wait.
	release := make(chan struct{})
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free) // should the test fail before
	bad := &chunkServer{chunks: want, corrupt: true, onServe: func(n int32) {
		if n == 2 {
			free()
		}
	}}
	peers := tn.serving(&chunkServer{chunks: want, gate: release}, bad, &chunkServer{chunks: want, gate: release})
	c := newCollector(t)
	if err := tn.hosts[0].FetchChunks(context.Background(), peers, snapHeight, ids, c.verify(checkAgainst(want)), c.deliver); err != nil {
		t.Fatal(err)
	}
	c.matches(want)
	x := tn.hosts[0]
	if !x.Banned(peers[1]) {
		t.Fatal("the peer serving corrupted chunks is not banned")
	}
	// It was asked for two at once; once the first failed its check it
	// had one request in flight at most, so none went out between its two
	// strikes (with two, a third did, in about a third of the runs).
	if n := bad.served.Load(); n != 2 {
		t.Fatalf("the corrupt peer was asked for %d chunks beyond the two that banned it", n-2)
	}
	if x.Banned(peers[0]) || x.Banned(peers[2]) {
		t.Fatal("an honest peer is banned")
	}
	if c.from[peers[0]]+c.from[peers[2]] != len(ids) {
		t.Fatalf("honest peers served %d chunks of %d", c.from[peers[0]]+c.from[peers[2]], len(ids))
	}
	eventually(t, "the banned peer disconnected", func() bool { return !x.Connected(peers[1]) })
}

func TestAChunkNoPeerHoldsEndsFetchChunksWithAnErrorNamingIt(t *testing.T) {
	tn := newTestNet(t, 3)
	want, ids := testChunks(4)
	peers := tn.serving(&chunkServer{chunks: want}, &chunkServer{chunks: want})
	c := newCollector(t)
	ids = append(ids, ChunkID{List: 7, Index: 99})
	err := tn.hosts[0].FetchChunks(context.Background(), peers, snapHeight, ids, c.verify(checkAgainst(want)), c.deliver)
	if !errors.Is(err, ErrSnapshot) || !errors.Is(err, ErrNotHeld) || !strings.Contains(err.Error(), "chunk 7/99") {
		t.Fatalf("got %v, want an error naming chunk 7/99", err)
	}
	for _, p := range peers {
		if tn.hosts[0].Banned(p) {
			t.Errorf("peer %s banned for not holding a chunk", p)
		}
	}
}

func TestFetchChunksWithoutPeersNamesTheFirstChunk(t *testing.T) {
	tn := newTestNet(t, 1)
	err := tn.hosts[0].FetchChunks(context.Background(), nil, snapHeight, []ChunkID{{1, 2}}, nil, nil)
	if !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), "chunk 1/2") {
		t.Fatalf("got %v", err)
	}
	if err := tn.hosts[0].FetchChunks(context.Background(), nil, snapHeight, nil, nil, nil); err != nil {
		t.Fatalf("no chunks to fetch: %v", err)
	}
}

func TestAnErrorFromDeliverEndsFetchChunksWithIt(t *testing.T) {
	tn := newTestNet(t, 3)
	want, ids := testChunks(8)
	peers := tn.serving(&chunkServer{chunks: want}, &chunkServer{chunks: want})
	stop := errors.New("disk full")
	err := tn.hosts[0].FetchChunks(context.Background(), peers, snapHeight, ids, checkAgainst(want),
		func(ChunkID, []byte) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("got %v, want deliver's error", err)
	}
}

// Cancelling the context ends a fetch whose requests never get answered;
// FetchChunks returns once they have ended (goleak, in TestMain, checks
// that none is left).
func TestCancellingFetchChunksEndsItsRequestsInFlight(t *testing.T) {
	tn := newTestNet(t, 2)
	want, ids := testChunks(4)
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	var once sync.Once
	peers := tn.serving(&chunkServer{chunks: want, gate: release, onServe: func(int32) { once.Do(func() { close(entered) }) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tn.hosts[0].FetchChunks(ctx, peers, snapHeight, ids, checkAgainst(want), func(ChunkID, []byte) error { return nil })
	}()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestSnapshotManifestsOfAHostThatServesNone(t *testing.T) {
	tn := newTestNet(t, 2)
	ctx := context.Background()
	p := tn.hosts[1].ID()
	ms, err := tn.hosts[0].SnapshotManifests(ctx, p)
	if err != nil || len(ms) != 0 {
		t.Fatalf("%d manifests, err %v; want none", len(ms), err)
	}
	if _, err := tn.hosts[0].FetchChunk(ctx, p, snapHeight, 0, 0); !errors.Is(err, ErrNotHeld) || !strings.Contains(err.Error(), "no snapshots served") {
		t.Fatalf("a chunk from a host serving none: %v", err)
	}
	eventually(t, "the host speaking the snapshot protocol", func() bool { return len(tn.hosts[0].SnapshotPeers()) == 1 })
}

func TestSnapshotManifestsComeNewestFirstWithinTheirBounds(t *testing.T) {
	tn := newTestNet(t, 2)
	var ms [][]byte
	for i := range MaxManifests + 4 {
		ms = append(ms, []byte(fmt.Sprintf("manifest %d", i)))
	}
	ms[1] = make([]byte, MaxManifest+1) // too large: left out
	tn.serving(&chunkServer{manifests: ms})
	got, err := tn.hosts[0].SnapshotManifests(context.Background(), tn.hosts[1].ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxManifests || string(got[0]) != "manifest 0" || string(got[1]) != "manifest 2" || string(got[15]) != "manifest 16" {
		t.Fatalf("got %d manifests: %q … %q", len(got), got[0], got[len(got)-1])
	}
}

func TestFetchChunkServesAnEmptyChunkAndListZeroIndexZero(t *testing.T) {
	tn := newTestNet(t, 2)
	tn.serving(&chunkServer{chunks: map[ChunkID][]byte{{0, 0}: {}}})
	got, err := tn.hosts[0].FetchChunk(context.Background(), tn.hosts[1].ID(), snapHeight, 0, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %q, %v", got, err)
	}
}

// A raw request that is not one of the two shapes, or is oversize, makes
// the server reset the stream; it still answers the next one.
func TestAMalformedOrOversizeSnapshotRequestResetsTheStreamAndTheServerStaysUp(t *testing.T) {
	tn := newTestNet(t, 2)
	tn.serving(&chunkServer{manifests: [][]byte{[]byte("m")}})
	frame := func(body ...byte) []byte { return append(binary.AppendUvarint(nil, uint64(len(body))), body...) }
	for name, raw := range map[string][]byte{
		"an oversize frame":        append(binary.AppendUvarint(nil, 1<<20), bytes.Repeat([]byte{0xa1}, 100)...),
		"an unknown kind":          frame(0xa1, 0x01, 0x02),
		"a list with a height":     frame(0xa2, 0x01, 0x00, 0x02, 0x05),
		"a chunk without an index": frame(0xa3, 0x01, 0x01, 0x02, 0x05, 0x03, 0x00),
		"a list too long encoded":  frame(0xa1, 0x01, 0x18, 0x00),
		"an unknown key":           frame(0xa2, 0x01, 0x00, 0x09, 0x00),
		"garbage":                  frame([]byte("garbage")...),
		"nothing":                  nil,
	} {
		s, err := tn.hosts[0].h.NewStream(context.Background(), tn.hosts[1].ID(), tn.hosts[0].names.snapshot)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(raw)
		s.CloseWrite()
		if _, err := io.ReadAll(s); !errors.Is(err, network.ErrReset) {
			t.Errorf("%s: the server answered (%v), want a reset", name, err)
		}
		s.Close()
	}
	ms, err := tn.hosts[0].SnapshotManifests(context.Background(), tn.hosts[1].ID())
	if err != nil || len(ms) != 1 {
		t.Fatalf("after the bad requests: %d manifests, %v", len(ms), err)
	}
}

// The server reads one frame and answers it at once: it does not wait
// for the client to close its side, ignores what follows the frame, and
// takes a length written longer than needed (PROTOCOL.md §17, §21.4).
func TestASnapshotRequestIsAnsweredWithoutTheCloseAndWhatFollowsItIsIgnored(t *testing.T) {
	tn := newTestNet(t, 2)
	tn.serving(&chunkServer{manifests: [][]byte{[]byte("m")}})
	want := []byte{0x05, 0xa1, 0x01, 0x81, 0x41, 'm'} // {1: [h'6d']}
	for name, raw := range map[string][]byte{
		"a request alone":         {0x03, 0xa1, 0x01, 0x00},
		"a second request after":  {0x03, 0xa1, 0x01, 0x00, 0x03, 0xa1, 0x01, 0x00},
		"a stray byte after":      {0x03, 0xa1, 0x01, 0x00, 0xff},
		"its length in two bytes": {0x83, 0x00, 0xa1, 0x01, 0x00},
	} {
		s, err := tn.hosts[0].h.NewStream(context.Background(), tn.hosts[1].ID(), tn.hosts[0].names.snapshot)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(raw) // the write side stays open
		s.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, err := io.ReadAll(s)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: answered % x, %v; want % x and the stream closed", name, got, err, want)
		}
		s.Close()
	}
}

// A peer's answer beyond the protocol's bounds, or of neither shape, is
// refused (an oversize frame before it is read).
func TestAnOversizeOrMalformedSnapshotAnswerIsRefused(t *testing.T) {
	tn := newTestNet(t, 2)
	one := []byte{1}
	enc := func(v any) []byte {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		writeFrame(w, v)
		w.Flush()
		return b.Bytes()
	}
	for name, c := range map[string]struct {
		raw   []byte
		chunk bool
	}{
		"a chunk frame over the bound":   {binary.AppendUvarint(nil, MaxChunk+frameSlack+1), true},
		"a list frame over the bound":    {binary.AppendUvarint(nil, maxManifestsTotal+frameSlack+1), false},
		"too many manifests":             {enc(manifestsAnswer{Manifests: bytes.SplitAfter(bytes.Repeat(one, MaxManifests+1), one)[:MaxManifests+1]}), false},
		"a chunk and a reason":           {enc(chunkAnswer{Chunk: &one, Reason: "both"}), true},
		"neither chunk nor reason":       {enc(chunkAnswer{}), true},
		"a reason over 200 bytes":        {enc(chunkAnswer{Reason: strings.Repeat("r", maxReason+1)}), true},
		"a list answer to a chunk":       {enc(manifestsAnswer{Manifests: [][]byte{one}}), true},
		"a truncated answer":             {enc(manifestsAnswer{Manifests: [][]byte{one}})[:3], false},
		"no answer":                      {nil, true},
		"a chunk answer to a list (key)": {enc(chunkAnswer{Reason: "x"}), false},
	} {
		tn.hosts[1].h.SetStreamHandler(tn.hosts[1].names.snapshot, func(s network.Stream) {
			defer s.Close()
			io.Copy(io.Discard, io.LimitReader(s, maxSnapshotRequest))
			s.Write(c.raw)
		})
		var err error
		if c.chunk {
			_, err = tn.hosts[0].FetchChunk(context.Background(), tn.hosts[1].ID(), snapHeight, 0, 0)
		} else {
			_, err = tn.hosts[0].SnapshotManifests(context.Background(), tn.hosts[1].ID())
		}
		if !errors.Is(err, ErrSnapshot) {
			t.Errorf("%s: got %v, want ErrSnapshot", name, err)
		}
	}
}

func TestTwoStrikesBanAPeerAndTheStrikeTableStaysBounded(t *testing.T) {
	tn := newTestNet(t, 1)
	x := tn.hosts[0]
	p := peer.ID("a liar")
	if x.Strike(p, "bad chunk") || x.Banned(p) {
		t.Fatal("banned at the first strike")
	}
	if !x.Strike(p, "bad chunk again") || !x.Banned(p) {
		t.Fatal("not banned at the second strike")
	}
	if x.Strike(x.ID(), "self") || x.Banned(x.ID()) {
		t.Fatal("the host struck itself")
	}
	for i := range maxStrikes + 1 {
		x.Strike(peer.ID(fmt.Sprintf("sybil %d", i)), "bad chunk")
	}
	if n := len(x.snap.strikes); n != maxStrikes {
		t.Fatalf("%d peers in the strike table, at most %d", n, maxStrikes)
	}
	// The oldest strike was forgotten: sybil 0 starts again (and its entry
	// evicts sybil 1, now the oldest); sybil 2 is remembered.
	if x.Strike("sybil 0", "bad chunk") {
		t.Fatal("a forgotten strike still counted")
	}
	if !x.Strike("sybil 2", "bad chunk") {
		t.Fatal("a remembered strike did not count")
	}
}

// A chunk, once read, holds room of the answers' memory bound until it is
// written; with none left (here every byte taken by another peer's
// answers) the request is answered "busy", and served once room frees.
func TestAChunkAnswerFindingNoRoomIsBusyAndServedOnceRoomFrees(t *testing.T) {
	tn := newTestNet(t, 2)
	chunk := bytes.Repeat([]byte{7}, 1000)
	tn.serving(&chunkServer{chunks: map[ChunkID][]byte{{1, 0}: chunk}})
	server := tn.hosts[1]
	var others []string // other addresses whose answers hold every byte
	for left, i := server.room.limit, 0; left > 0; i++ {
		n := min(left, server.room.perPeer)
		others = append(others, fmt.Sprint("192.0.2.", i+1))
		if !server.room.take(others[i], n) {
			t.Fatal("the room could not be filled")
		}
		left -= n
	}
	_, err := tn.hosts[0].FetchChunk(context.Background(), server.ID(), snapHeight, 1, 0)
	if !errors.Is(err, ErrNotHeld) || !errors.Is(err, ErrBusy) {
		t.Fatalf("with no room left: %v, want the chunk answered busy", err)
	}
	server.room.give(others[0], server.room.perPeer)
	got, err := tn.hosts[0].FetchChunk(context.Background(), server.ID(), snapHeight, 1, 0)
	if err != nil || !bytes.Equal(got, chunk) {
		t.Fatalf("once room freed: %d bytes, %v", len(got), err)
	}
	eventually(t, "the chunk's room given back", func() bool { return server.room.inUse() == server.room.limit-server.room.perPeer })
}

// A peer that answers "busy" holds the chunk: the fetch asks it again
// after a pause instead of failing the chunk there (here the only peer,
// whose room frees after its first busy answer).
func TestFetchChunksAsksABusyPeerAgainAndGetsTheChunk(t *testing.T) {
	tn := newTestNet(t, 2)
	want, ids := testChunks(1)
	src := &chunkServer{chunks: want}
	tn.serving(src)
	server := tn.hosts[1]
	held := map[string]int64{} // other addresses' answers holding every byte
	for left, i := server.room.limit, 0; left > 0; i++ {
		n := min(left, server.room.perPeer)
		p := fmt.Sprint("192.0.2.", i+1)
		server.room.take(p, n)
		held[p] = n
		left -= n
	}
	c := newCollector(t)
	done := make(chan error, 1)
	go func() {
		done <- tn.hosts[0].FetchChunks(context.Background(), []peer.ID{server.ID()}, snapHeight, ids, checkAgainst(want), c.deliver)
	}()
	// The chunk is read once per request: a second read is the request
	// made again after the first was answered busy.
	eventually(t, "the chunk asked again after a busy answer", func() bool { return src.served.Load() >= 2 })
	for p, n := range held {
		server.room.give(p, n)
	}
	if err := <-done; err != nil {
		t.Fatalf("the only peer, busy once: %v", err)
	}
	c.matches(want)
}

// One address reads at most half of the chunk answers read at once,
// however many identities it uses: another address still gets the rest.
func TestOneAddressReadsAtMostHalfTheChunkAnswersReadAtOnce(t *testing.T) {
	g, keys := testGenesis(1)
	s := runHost(t, Config{Key: keys[0], Genesis: g, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}, &recordingHandler{}).snap.reads
	a, b := "192.0.2.1", "192.0.2.2"
	for range maxServedChunksPerAddress {
		if !s.take(a, 1) {
			t.Fatal("an address's first chunk answers refused")
		}
	}
	if s.take(a, 1) {
		t.Fatalf("address a read more than %d chunk answers at once", maxServedChunksPerAddress)
	}
	for range maxServedChunks - maxServedChunksPerAddress {
		if !s.take(b, 1) {
			t.Fatal("another address found no chunk answer to read")
		}
	}
	if s.take("192.0.2.3", 1) {
		t.Fatalf("more than %d chunk answers read at once", maxServedChunks)
	}
	s.give(a, 1)
	if !s.take(a, 1) {
		t.Fatal("a read done did not free its address's slot")
	}
}
