package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/cocorico/node/consensus"
)

// roomHandler has no room for attestations of heights up to full (its
// WitnessFilter says so), and room for every other.
type roomHandler struct {
	recordingHandler
	full atomic.Uint64
}

func (r *roomHandler) WitnessWanted(w *consensus.Witness) bool {
	return w.Attestation == nil || w.Attestation.Height > r.full.Load()
}

// rawGossiper speaks gossipsub's wire to a host by hand, as an attacker
// does: one stream, frames of RPCs it writes itself, no router of its own
// (so nothing it sends is remembered on its side).
type rawGossiper struct {
	h      host.Host
	s      network.Stream
	topic  string
	iwants chan string // the ids the host asks for (IWANT)
}

func newRawGossiper(tb testing.TB, x *Host) *rawGossiper {
	tb.Helper()
	h, s := gossipStream(tb, x)
	g := &rawGossiper{h: h, s: s, topic: x.names.witness, iwants: make(chan string, 1024)}
	// The host opens its own stream back: its frames read for the ids it
	// asks for, the rest dropped.
	h.SetStreamHandler("/meshsub/1.1.0", func(s network.Stream) {
		defer s.Close()
		r := bufio.NewReader(s)
		for {
			n, err := binary.ReadUvarint(r)
			if err != nil || n > MaxMessage {
				return
			}
			body := make([]byte, n)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			var rpc pb.RPC
			if proto.Unmarshal(body, &rpc) != nil {
				return
			}
			for _, w := range rpc.GetControl().GetIwant() {
				for _, id := range w.GetMessageIDs() {
					select {
					case g.iwants <- id:
					default:
					}
				}
			}
		}
	})
	sub := true
	g.write(tb, &pb.RPC{Subscriptions: []*pb.RPC_SubOpts{{Subscribe: &sub, Topicid: &g.topic}}})
	return g
}

// gossipStream connects a fresh identity to x and opens a gossip stream.
func gossipStream(tb testing.TB, x *Host) (host.Host, network.Stream) {
	tb.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: x.h.ID(), Addrs: x.h.Addrs()}); err != nil {
		tb.Fatal(err)
	}
	s, err := h.NewStream(ctx, x.h.ID(), "/meshsub/1.1.0")
	if err != nil {
		tb.Fatal(err)
	}
	return h, s
}

// roomHost runs a host whose handler has no room at height 1.
func roomHost(tb testing.TB) (*Host, *roomHandler, consensus.Chain) {
	g, keys := testGenesis(1)
	h := &roomHandler{recordingHandler: recordingHandler{blocks: make([]SyncBlock, 5)}}
	h.full.Store(1)
	return runHost(tb, Config{Key: keys[0], Genesis: g, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}, h), h, g.Chain()
}

// send writes one frame carrying datas as attestations-topic messages.
func (g *rawGossiper) send(tb testing.TB, datas ...[]byte) {
	tb.Helper()
	rpc := &pb.RPC{}
	for _, d := range datas {
		rpc.Publish = append(rpc.Publish, &pb.Message{Topic: &g.topic, Data: d})
	}
	g.write(tb, rpc)
}

func (g *rawGossiper) write(tb testing.TB, rpc *pb.RPC) {
	tb.Helper()
	body, err := proto.Marshal(rpc)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := g.s.Write(append(binary.AppendUvarint(nil, uint64(len(body))), body...)); err != nil {
		tb.Fatal(err)
	}
}

func attestationOf(chain consensus.Chain, height uint64, key ed25519.PrivateKey) []byte {
	return (&consensus.Witness{Attestation: consensus.NewAttestation(chain, height, consensus.Hash{1}, consensus.Hash{2}, key)}).Encode()
}

// A witness the node could not keep is taken out of its frame before the
// gossip router remembers it: the same message sent again once the node
// has room for it is taken. (The router remembers every message it saw
// for 2 minutes, ignored ones too: with the witness ignored by the topic
// validator only, the second sending was a duplicate the handler never
// saw — and a flood of such witnesses from free identities was memory the
// node kept for 2 minutes.)
func TestAWitnessTheNodeCouldNotKeepLeavesNoTraceAndIsTakenWhenSentAgainWithRoom(t *testing.T) {
	x, h, chain := roomHost(t)
	s := newRawGossiper(t, x)
	volunteer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	full, room := attestationOf(chain, 1, volunteer), attestationOf(chain, 2, volunteer)

	// Frames are handled in order: once height 2's reached the handler,
	// height 1's frame was handled.
	s.send(t, full)
	s.send(t, room)
	eventually(t, "the attestation of a height with room", func() bool { return h.witnesses() == 1 })
	if got := h.witness[0].Attestation.Height; got != 2 {
		t.Fatalf("the handler got an attestation of height %d, want only height 2's", got)
	}

	h.full.Store(0)
	s.send(t, full)
	eventually(t, "height 1's attestation, sent again once the node has room", func() bool { return h.witnesses() == 2 })
}

// The node never asks a peer for a witness it offers (IHAVE of the
// attestations topic): a message asked for must reach the router's
// validation, or the router scores the peer down for a broken promise,
// and the node must not have to validate and remember witnesses it cannot
// keep at a rate the offering peers choose (the router asks one peer for
// up to maxIHave a second). An offer of another topic's message, in the
// same frame, is asked for: the offer was heard.
func TestTheNodeNeverAsksForAnOfferedWitnessButAsksForOtherMessages(t *testing.T) {
	x, h, chain := roomHost(t)
	g := newRawGossiper(t, x)
	_, key, _ := ed25519.GenerateKey(nil)
	witness := messageID(&pb.Message{Data: attestationOf(chain, 2, key)}) // height 2: room for it
	cast := messageID(&pb.Message{Data: EncodeTxs([][]byte{[]byte("ok a cast")}, 1)})
	casts := x.names.casts
	for try := 0; ; try++ {
		if try == 50 {
			t.Fatal("the host never asked for the offered cast")
		}
		g.write(t, &pb.RPC{Control: &pb.ControlMessage{Ihave: []*pb.ControlIHave{
			{TopicID: &g.topic, MessageIDs: []string{witness}},
			{TopicID: &casts, MessageIDs: []string{cast}},
		}}})
		got := ""
		select {
		case got = <-g.iwants:
		case <-time.After(300 * time.Millisecond):
		}
		if got == witness {
			t.Fatal("the host asked for an offered witness")
		}
		if got == cast {
			break
		}
	}
	// Asked in one IWANT with the cast, the witness would be next.
	select {
	case got := <-g.iwants:
		if got == witness {
			t.Fatal("the host asked for an offered witness")
		}
	case <-time.After(time.Second):
	}
	if h.witnesses() != 0 {
		t.Fatal("a witness reached the handler")
	}
}

// The frame inspection takes out exactly the witnesses the node would not
// keep: far ahead of its height, or refused by its filter. A witness the
// forwarder is at fault for (undecodable, oversize) stays, for the topic
// validator to reject and score; other topics' messages are not looked at.
func TestTheFrameInspectionTakesOutOnlyTheWitnessesTheNodeWouldNotKeep(t *testing.T) {
	x, _, chain := roomHost(t)
	volunteer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	full := attestationOf(chain, 1, volunteer)
	room := attestationOf(chain, 2, volunteer)
	ahead := attestationOf(chain, 5+MaxWitnessAhead+1, volunteer)
	edge := attestationOf(chain, 5+MaxWitnessAhead, volunteer)
	undecodable := []byte("not cbor")
	oversize := make([]byte, consensus.MaxWitness+1)
	msg := func(topic string, data []byte) *pb.Message { return &pb.Message{Topic: &topic, Data: data} }

	rpc := new(pubsub.RPC)
	rpc.Publish = []*pb.Message{
		msg(x.names.witness, full), msg(x.names.witness, room), msg(x.names.casts, full),
		msg(x.names.witness, ahead), msg(x.names.witness, undecodable), msg(x.names.witness, edge),
		msg(x.names.witness, oversize), msg(x.names.witness, full),
	}
	if err := x.inspectRPC("a peer", rpc); err != nil {
		t.Fatalf("inspect: %v, want the frame handled", err)
	}
	want := [][]byte{room, full, undecodable, edge, oversize}
	var got [][]byte
	for _, m := range rpc.Publish {
		got = append(got, m.Data)
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages kept, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("message %d kept is %.20q, want %.20q", i, got[i], want[i])
		}
	}
	if rpc.Publish[1].GetTopic() != x.names.casts {
		t.Fatalf("the casts message kept is of topic %q", rpc.Publish[1].GetTopic())
	}
}

// BenchmarkAFloodOfWitnessesTheNodeCannotKeep sends a host, by hand over
// gossipsub's wire, valid attestations of a full height by a fresh key
// each (what a Sybil costs nothing to make), 100 a frame, then one it
// wants, and reports the host's heap left after them (retained-B/msg:
// what the gossip router remembers of each) and its time a message.
func BenchmarkAFloodOfWitnessesTheNodeCannotKeep(b *testing.B) {
	x, h, chain := roomHost(b)
	s := newRawGossiper(b, x)
	flood := make([][]byte, b.N)
	for i := range flood {
		_, key, _ := ed25519.GenerateKey(nil)
		flood[i] = attestationOf(chain, 1, key)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	sentinel := attestationOf(chain, 2, key)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < len(flood); i += 100 {
		s.send(b, flood[i:min(i+100, len(flood))]...)
	}
	s.send(b, sentinel)
	deadline := time.Now().Add(5 * time.Minute)
	for h.witnesses() == 0 {
		if time.Now().After(deadline) {
			b.Fatal("the wanted attestation after the flood never reached the handler")
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "retained-B/msg")
	runtime.KeepAlive(flood)
}
