package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"slices"
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
	"github.com/cocorico/node/consensus/canon"
)

// roomHandler has no room for attestations of heights up to full (its
// WitnessFilter says so), and room for every other; it has every
// transaction that begins with "known" (pending) or "final" (its TxFilter
// says so, and HandleTxs ignores a batch of them), and is at height 5.
type roomHandler struct {
	recordingHandler
	full     atomic.Uint64
	screened atomic.Int64 // transactions TxsWanted read
}

func (r *roomHandler) WitnessWanted(w *consensus.Witness) bool {
	return w.Attestation == nil || w.Attestation.Height > r.full.Load()
}

// TxsWanted reads every transaction; those that begin with "known" are
// pending (found at a lookup), the others costly (read against the
// state).
func (r *roomHandler) TxsWanted(txs [][]byte) (bool, int) {
	r.screened.Add(int64(len(txs)))
	costly := 0
	for _, tx := range txs {
		if !bytes.HasPrefix(tx, []byte("known")) {
			costly++
		}
	}
	return hasNew(txs), costly
}

// hasNew reports whether one of txs is not one the handler has ("known",
// pending, or "final").
func hasNew(txs [][]byte) bool {
	return slices.ContainsFunc(txs, func(tx []byte) bool {
		return !bytes.HasPrefix(tx, []byte("known")) && !bytes.HasPrefix(tx, []byte("final"))
	})
}

func (r *roomHandler) HandleTxs(txs [][]byte) Verdict {
	if !hasNew(txs) {
		return Ignore
	}
	return r.recordingHandler.HandleTxs(txs)
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
	var subs []*pb.RPC_SubOpts
	for _, t := range []string{x.names.casts, x.names.consensus, x.names.final, x.names.witness} {
		subs = append(subs, &pb.RPC_SubOpts{Subscribe: &sub, Topicid: &t})
	}
	g.write(tb, &pb.RPC{Subscriptions: subs})
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
func (g *rawGossiper) send(tb testing.TB, datas ...[]byte) { g.sendOn(tb, g.topic, datas...) }

// sendOn writes one frame carrying datas as messages of topic.
func (g *rawGossiper) sendOn(tb testing.TB, topic string, datas ...[]byte) {
	tb.Helper()
	rpc := &pb.RPC{}
	for _, d := range datas {
		rpc.Publish = append(rpc.Publish, &pb.Message{Topic: &topic, Data: d})
	}
	g.write(tb, rpc)
}

// subscribe writes one frame subscribing to topics.
func (g *rawGossiper) subscribe(tb testing.TB, topics ...[]byte) {
	tb.Helper()
	sub := true
	rpc := &pb.RPC{}
	for _, t := range topics {
		rpc.Subscriptions = append(rpc.Subscriptions, &pb.RPC_SubOpts{Subscribe: &sub, Topicid: proto.String(string(t))})
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

// The node never asks a peer for a message it offers (IHAVE), of any
// topic: a message asked for must reach the router's validation, or the
// router scores the peer down for a broken promise, and the node must not
// have to validate and remember messages it has no use for at a rate the
// offering peers choose. Offers of new messages on every topic, for three
// heartbeats, draw no IWANT.
func TestTheNodeNeverAsksForAnOfferedMessageOfAnyTopic(t *testing.T) {
	x, h, chain := roomHost(t)
	g := newRawGossiper(t, x)
	_, key, _ := ed25519.GenerateKey(nil)
	offers := map[string]string{
		x.names.witness:   messageID(&pb.Message{Data: attestationOf(chain, 2, key)}), // height 2: room for it
		x.names.casts:     messageID(&pb.Message{Data: EncodeTxs([][]byte{[]byte("ok a cast")}, 1)}),
		x.names.consensus: messageID(&pb.Message{Data: voteOf(6, 0)}),
		x.names.final:     messageID(&pb.Message{Data: announceOf(x, 6, 0)}),
	}
	var ihave []*pb.ControlIHave
	for topic, id := range offers {
		ihave = append(ihave, &pb.ControlIHave{TopicID: &topic, MessageIDs: []string{id}})
	}
	deadline := time.After(3 * time.Second) // three heartbeats
	for {
		g.write(t, &pb.RPC{Control: &pb.ControlMessage{Ihave: ihave}})
		select {
		case id := <-g.iwants:
			t.Fatalf("the host asked for an offered message (%x)", id)
		case <-time.After(300 * time.Millisecond):
			continue
		case <-deadline:
		}
		break
	}
	if h.witnesses() != 0 || h.received() != 0 {
		t.Fatal("an offered message reached the handler")
	}
}

// voteOf is the encoding of a precommit of height, made distinct by
// round, unsigned: what the frame inspection reads.
func voteOf(height uint64, round uint32) []byte {
	return (&consensus.Message{Vote: &consensus.Vote{Type: consensus.Precommit, Height: height, Round: round, Signature: make([]byte, 64)}}).Encode()
}

// announceOf is the announcement of a final block of height of x's
// chain, made distinct by its time, with an empty commit.
func announceOf(x *Host, height uint64, time int64) []byte {
	return canon.MustMarshal(Announce{Header: consensus.Header{ChainID: x.cfg.Genesis.ChainID, Height: height, Time: time}})
}

// The frame inspection takes out exactly the messages the node would
// ignore before checking any signature: casts all of which the node has
// (TxFilter), votes and announcements of heights it has final (5 here),
// witnesses far ahead of its height or refused by its filter. One the
// forwarder is at fault for (undecodable, oversize) stays, for the topic
// validator to reject and score; and every offer (IHAVE) goes.
func TestTheFrameInspectionTakesOutOnlyWhatTheNodeWouldIgnoreUnchecked(t *testing.T) {
	x, _, chain := roomHost(t)
	volunteer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	junk := []byte("not cbor")
	type msg struct {
		topic string
		data  []byte
		kept  bool
	}
	w, c, v, f := x.names.witness, x.names.casts, x.names.consensus, x.names.final
	known, fresh := []byte("known cast"), []byte("ok cast")
	msgs := []msg{
		{w, attestationOf(chain, 1, volunteer), false}, // a full height
		{w, attestationOf(chain, 2, volunteer), true},
		{c, attestationOf(chain, 1, volunteer), true}, // another topic's data: not a witness here
		{w, attestationOf(chain, 5+MaxWitnessAhead+1, volunteer), false},
		{w, junk, true},
		{w, attestationOf(chain, 5+MaxWitnessAhead, volunteer), true},
		{w, make([]byte, consensus.MaxWitness+1), true},
		{c, EncodeTxs([][]byte{known, known}, 1), false},
		{c, EncodeTxs([][]byte{known, fresh}, 2), true},
		{c, EncodeTxs([][]byte{fresh}, 3), true},
		{c, canon.MustMarshal(txsMessage{Nonce: 4}), true}, // no transaction: the forwarder's fault
		{c, junk, true},
		{v, voteOf(5, 0), false},
		{v, voteOf(1, 3), false},
		{v, voteOf(6, 0), true},
		{v, junk, true},
		{f, announceOf(x, 5, 1), false},
		{f, announceOf(x, 6, 1), true},
		{f, junk, true},
	}
	rpc := new(pubsub.RPC)
	var want []msg
	for _, m := range msgs {
		rpc.Publish = append(rpc.Publish, &pb.Message{Topic: &m.topic, Data: m.data})
		if m.kept {
			want = append(want, m)
		}
	}
	rpc.Control = &pb.ControlMessage{Ihave: []*pb.ControlIHave{{TopicID: &c, MessageIDs: []string{"an id"}}}}
	if err := x.inspectRPC("a peer", rpc); err != nil {
		t.Fatalf("inspect: %v, want the frame handled", err)
	}
	if len(rpc.Publish) != len(want) {
		t.Fatalf("%d messages kept, want %d", len(rpc.Publish), len(want))
	}
	for i, m := range want {
		if got := rpc.Publish[i]; got.GetTopic() != m.topic || !bytes.Equal(got.Data, m.data) {
			t.Fatalf("message %d kept is %.20q of %s, want %.20q of %s", i, got.Data, got.GetTopic(), m.data, m.topic)
		}
	}
	if n := len(rpc.GetControl().GetIhave()); n != 0 {
		t.Fatalf("%d offers left in the frame", n)
	}
}

// BenchmarkAFloodOfMessagesTheNodeIgnoresUnchecked sends a host, by hand
// over gossipsub's wire, b.N distinct messages of one topic that cost
// nothing to make and that the node ignores before checking any
// signature, 100 a frame, then a cast it wants, and reports the host's
// heap left after them (retained-B/msg: what the gossip router remembers
// of each) and its time a message. casts: a cast it holds pending under
// a fresh nonce each (read each time: final ones would spend the peer's
// screen budget, then be dropped unread); consensus: votes of a height it
// has final (every commit holds a quorum); final: announcements of such a
// height; witness: attestations of a full height by a fresh key each;
// subscriptions: subscriptions to made-up topics, 16 a frame.
func BenchmarkAFloodOfMessagesTheNodeIgnoresUnchecked(b *testing.B) {
	for _, topic := range []string{"casts", "consensus", "final", "witness", "subscriptions"} {
		b.Run(topic, func(b *testing.B) {
			x, h, chain := roomHost(b)
			s := newRawGossiper(b, x)
			name := map[string]string{"casts": x.names.casts, "consensus": x.names.consensus, "final": x.names.final, "witness": x.names.witness}[topic]
			flood := make([][]byte, b.N)
			for i := range flood {
				switch topic {
				case "casts":
					flood[i] = EncodeTxs([][]byte{[]byte("known cast")}, uint64(i))
				case "consensus":
					flood[i] = voteOf(uint64(1+i%5), uint32(i))
				case "final":
					flood[i] = announceOf(x, uint64(1+i%5), int64(i))
				case "witness":
					_, key, _ := ed25519.GenerateKey(nil)
					flood[i] = attestationOf(chain, 1, key)
				case "subscriptions": // a topic name
					flood[i] = fmt.Appendf(nil, "/made-up/%d", i)
				}
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			send, perFrame := func(f [][]byte) { s.sendOn(b, name, f...) }, 100
			if topic == "subscriptions" {
				send, perFrame = func(f [][]byte) { s.subscribe(b, f...) }, maxSubscriptions
			}
			for i := 0; i < len(flood); i += perFrame {
				send(flood[i:min(i+perFrame, len(flood))])
			}
			// Sent again, under a fresh nonce, until it comes: a router
			// whose validation queue is full drops what comes.
			deadline := time.Now().Add(5 * time.Minute)
			for try := uint64(0); h.received() == 0; try++ {
				if time.Now().After(deadline) {
					b.Fatal("the wanted cast after the flood never reached the handler")
				}
				if try%100 == 0 {
					s.sendOn(b, x.names.casts, EncodeTxs([][]byte{[]byte("ok the sentinel")}, try))
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "retained-B/msg")
			runtime.KeepAlive(flood)
		})
	}
}

// A peer's subscriptions are kept only for the chain's four topics, and a
// frame naming more than maxSubscriptions is ignored whole, its messages
// too: a peer's subscriptions are remembered as long as it stays, and any
// names were taken.
func TestAPeersSubscriptionsAreKeptOnlyForTheChainsTopicsAndFewAFrame(t *testing.T) {
	x, h, _ := roomHost(t)
	g := newRawGossiper(t, x)
	eventually(t, "the peer's subscriptions to the chain's topics", func() bool {
		return slices.Contains(x.ps.ListPeers(x.names.casts), g.h.ID()) && slices.Contains(x.ps.ListPeers(x.names.witness), g.h.ID())
	})
	var madeUp [][]byte
	for i := range maxSubscriptions {
		madeUp = append(madeUp, fmt.Appendf(nil, "/made-up/%d", i))
	}
	g.subscribe(t, madeUp...)
	// Frames are handled in order: once the cast of the frame after it
	// has come, the subscriptions were.
	g.sendOn(t, x.names.casts, EncodeTxs([][]byte{[]byte("ok after the subscriptions")}, 1))
	eventually(t, "the cast after the subscriptions", func() bool { return h.received() == 1 })
	for _, topic := range madeUp {
		if peers := x.ps.ListPeers(string(topic)); len(peers) != 0 {
			t.Fatalf("the host keeps %d peers of made-up topic %s", len(peers), topic)
		}
	}

	sub := true
	over := &pb.RPC{Publish: []*pb.Message{{Topic: &x.names.casts, Data: EncodeTxs([][]byte{[]byte("ok in the frame of too many")}, 2)}}}
	for range maxSubscriptions + 1 {
		over.Subscriptions = append(over.Subscriptions, &pb.RPC_SubOpts{Subscribe: &sub, Topicid: &x.names.casts})
	}
	g.write(t, over)
	g.sendOn(t, x.names.casts, EncodeTxs([][]byte{[]byte("ok after the frame of too many")}, 3))
	eventually(t, "the cast after the frame of too many subscriptions", func() bool { return h.received() >= 2 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.txs); n != 2 || string(h.txs[1]) != "ok after the frame of too many" {
		t.Fatalf("the handler got %d casts, the last %q: the frame of too many subscriptions was not ignored whole", n, h.txs[n-1])
	}
}

// A peer's casts messages the node reads against its state and drops
// spend its screen budget (a full message's worth, screenRate a second
// back); once it is spent, the peer's casts messages are dropped unread,
// another peer's still read, until time gives it back. A message the node
// wants costs nothing, nor pending casts (a copy of a message it took).
func TestAPeerWhoseDroppedCastsSpentItsScreenBudgetIsNotReadUntilItRefills(t *testing.T) {
	x, h, _ := roomHost(t)
	now := time.Unix(1_700_000_000, 0)
	x.screen = newScreenBudget(func() time.Time { return now })
	drops := &dropCounts{}
	x.cfg.Metrics = drops
	casts := x.names.casts
	frame := func(from peer.ID, txs ...[]byte) (kept bool, read int64) {
		t.Helper()
		before := h.screened.Load()
		rpc := &pubsub.RPC{RPC: pb.RPC{Publish: []*pb.Message{{Topic: &casts, Data: EncodeTxs(txs, uint64(now.UnixNano()))}}}}
		if err := x.inspectRPC(from, rpc); err != nil {
			t.Fatal(err)
		}
		return len(rpc.Publish) == 1, h.screened.Load() - before
	}
	pending, final := make([][]byte, MaxTxsPerMessage), make([][]byte, MaxTxsPerMessage)
	for i := range final {
		pending[i], final[i] = fmt.Appendf(nil, "known cast %d", i), fmt.Appendf(nil, "final cast %d", i)
	}
	wanted := [][]byte{[]byte("final cast"), []byte("ok new")}
	if kept, read := frame("a", wanted...); !kept || read != 2 {
		t.Fatalf("a wanted message: kept %v, %d read", kept, read)
	}
	for range 4 {
		if kept, read := frame("a", pending...); kept || read != MaxTxsPerMessage {
			t.Fatalf("a full message of pending casts: kept %v, %d read; want dropped, read, and free", kept, read)
		}
	}
	if kept, read := frame("a", final...); kept || read != MaxTxsPerMessage {
		t.Fatalf("a full message of final casts: kept %v, %d read", kept, read)
	}
	if kept, read := frame("a", wanted...); kept || read != 0 {
		t.Fatalf("after its budget is spent, the peer's message: kept %v, %d read; want dropped unread", kept, read)
	}
	if kept, read := frame("b", wanted...); !kept || read != 2 {
		t.Fatalf("another peer's message: kept %v, %d read", kept, read)
	}
	now = now.Add(time.Second)
	if kept, read := frame("a", wanted...); !kept || read != 2 {
		t.Fatalf("a second later, the peer's message: kept %v, %d read; want read", kept, read)
	}
	if kept, _ := frame("a", final[:screenRate]...); kept {
		t.Fatal("final casts were kept")
	}
	if kept, read := frame("a", wanted...); kept || read != 0 {
		t.Fatalf("after a second's budget is spent again: kept %v, %d read; want dropped unread", kept, read)
	}
	if drops.n[TopicCasts+" "+DropIgnored] != 6 || drops.n[TopicCasts+" "+DropUnread] != 2 || len(drops.n) != 2 {
		t.Fatalf("drops counted %v, want 6 ignored and 2 unread casts messages", drops.n)
	}
}

// dropCounts counts the drops Metrics is told of, by topic and why.
type dropCounts struct {
	nopMetrics
	n map[string]int
}

func (d *dropCounts) Dropped(topic, why string) {
	if d.n == nil {
		d.n = map[string]int{}
	}
	d.n[topic+" "+why]++
}
