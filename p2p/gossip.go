package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// Topic kinds.
const (
	TopicCasts     = "casts"
	TopicConsensus = "consensus"
	TopicFinal     = "blocks"
	TopicWitness   = "attestations"
)

// topicNames are the chain's topic and protocol names: the chain id and
// the genesis hash's first bytes keep two chains with one id apart.
type topicNames struct {
	casts, consensus, final, witness, mdns string
	sync, snapshot                         protocol.ID
}

func newTopicNames(g *consensus.Genesis) topicNames {
	base := fmt.Sprintf("/cocorico/%s-%s", g.ChainID, g.Hash().Short())
	return topicNames{
		casts:     base + "/casts/2",
		consensus: base + "/consensus/1",
		final:     base + "/blocks/1",
		witness:   base + "/attestations/1",
		sync:      protocol.ID(base + "/sync/1"),
		snapshot:  protocol.ID(base + "/snapshot/1"),
		mdns:      "cocorico-" + g.ChainID,
	}
}

func (n topicNames) kind(topic string) string {
	switch topic {
	case n.casts:
		return TopicCasts
	case n.consensus:
		return TopicConsensus
	case n.witness:
		return TopicWitness
	}
	return TopicFinal
}

// Announce is a final-block announcement: the header and its commit. The
// block's transactions travelled in the proposal; a node that lacks them
// fetches them by sync.
type Announce struct {
	Header consensus.Header `cbor:"1,keyasint"`
	Commit consensus.Commit `cbor:"2,keyasint"`
}

// Size limits of gossip messages, before any decoding.
const (
	// MaxTxMessage bounds a message of the casts topic, a batch of
	// transactions.
	MaxTxMessage = 1 << 20
	// MaxTxsPerMessage bounds the transactions of one such message.
	MaxTxsPerMessage   = 1024
	maxAnnounceMessage = 64 << 10
	// MaxMessage bounds every gossip message: a proposal carries its block.
	MaxMessage = 16 << 20
)

// messageID names a message by its content, so that the same cast
// published by two nodes is one message and duplicates die at once.
func messageID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:20])
}

// startGossip starts the gossip router, for the host's life, and joins
// the topics.
func (x *Host) startGossip() error {
	// The router's inbound streams hold a large frame's room while it
	// comes (gossipframes.go).
	ps, err := pubsub.NewGossipSub(x.life, gossipHost{Host: x.h, room: x.frames},
		// Messages carry their own signatures (voter, validator): no
		// libp2p author or signature to sign and check at every hop.
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		// Proposals carry whole blocks.
		pubsub.WithMaxMessageSize(MaxMessage),
		// Thousands of casts per second: deeper queues than the defaults
		// (32) so that bursts are not dropped.
		pubsub.WithPeerOutboundQueueSize(4096),
		pubsub.WithValidateQueueSize(8192),
		pubsub.WithPeerScore(scoreParams(x.names), scoreThresholds()),
		// Every few seconds, peers below the graylist are cut off and banned.
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(x.inspectScores), 5*time.Second),
		pubsub.WithPeerExchange(true),
		pubsub.WithFloodPublish(true),
		pubsub.WithGossipSubParams(gossipParams()),
		pubsub.WithAppSpecificRpcInspector(x.inspectRPC),
		pubsub.WithSeenMessagesTTL(seenTTL),
		// A peer's subscriptions are remembered for as long as it stays
		// (a map of peers a topic name): only the chain's four topics are,
		// and a frame naming more than maxSubscriptions is ignored whole.
		// Any names were taken, free: a hostile probe had one peer grow
		// a volunteer from 86 MB to 7.4 GB in a minute with random topic
		// names, and stall its router when it left (every topic walked).
		pubsub.WithSubscriptionFilter(pubsub.WrapLimitSubscriptionFilter(
			pubsub.NewAllowlistSubscriptionFilter(x.names.casts, x.names.consensus, x.names.final, x.names.witness), maxSubscriptions)),
	)
	if err != nil {
		return fmt.Errorf("p2p: gossipsub: %w", err)
	}
	x.ps = ps
	validators := map[string]pubsub.ValidatorEx{
		x.names.casts:     x.validateTx,
		x.names.consensus: x.validateConsensus,
		x.names.final:     x.validateFinal,
		x.names.witness:   x.validateWitness,
	}
	for name, v := range validators {
		// Casts cost a signature check each (~90 µs): many at once, but
		// bounded; consensus and final blocks are few.
		if err := ps.RegisterTopicValidator(name, v, pubsub.WithValidatorConcurrency(1024), pubsub.WithValidatorTimeout(10*time.Second)); err != nil {
			return err
		}
		t, err := ps.Join(name)
		if err != nil {
			return err
		}
		x.topics[name] = t
		sub, err := t.Subscribe(pubsub.WithBufferSize(4096))
		if err != nil {
			return err
		}
		x.spawn(func(ctx context.Context) { drain(ctx, sub) })
	}
	return nil
}

// maxSubscriptions bounds the subscriptions (and unsubscriptions) one
// frame may carry: a peer has four topics to name.
const maxSubscriptions = 16

// seenTTL is how long the gossip router remembers a message it saw, to
// drop its copies: 30 s instead of gossipsub's 2 minutes. Copies come
// within seconds (a mesh hop; a peer's IHAVE of its last 2 heartbeats and
// the IWANT after it, 3 s); the router also remembers every message it
// ignored (a stale cast, a replay of a final one under a fresh nonce, an
// old vote: free to send), a few hundred bytes each, until then (and up
// to a minute more: its sweep runs once a minute). A copy arriving later
// is judged again and ignored as a duplicate by the node.
const seenTTL = 30 * time.Second

// gossipParams are gossipsub's defaults but for gossip itself: the node
// offers no message (IHAVE, HistoryGossip 0) and asks for none (IWANT:
// inspectRPC drops every offer), so its message cache, which keeps every
// message received to answer a peer's IWANT, keeps one heartbeat (1 s)
// instead of 5. At thousands of casts per second, plus a proposal
// carrying its whole block, that cache held a fifth of a busy devnet's
// live heap (38 MB of 216 at 150,000 casts with 5 heartbeats).
func gossipParams() pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	p.HistoryLength, p.HistoryGossip = 1, 0
	return p
}

// drain consumes a subscription: the validators already did the work.
func drain(ctx context.Context, sub *pubsub.Subscription) {
	defer sub.Cancel()
	for {
		if _, err := sub.Next(ctx); err != nil {
			return
		}
	}
}

func (x *Host) verdict(topic string, v Verdict) pubsub.ValidationResult {
	switch v {
	case Accept:
		return pubsub.ValidationAccept
	case Reject:
		x.cfg.Metrics.Rejected(x.names.kind(topic))
		return pubsub.ValidationReject
	}
	return pubsub.ValidationIgnore
}

func (x *Host) validateTx(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if len(m.Data) > MaxTxMessage {
		return x.verdict(x.names.casts, Reject)
	}
	if from == x.h.ID() {
		return pubsub.ValidationAccept // our own: the node checked it before publishing
	}
	txs, err := DecodeTxs(m.Data)
	if err != nil {
		return x.verdict(x.names.casts, Reject)
	}
	return x.verdict(x.names.casts, x.handler.HandleTxs(txs))
}

func (x *Host) validateConsensus(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if from == x.h.ID() {
		return pubsub.ValidationAccept
	}
	cm, err := consensus.DecodeMessage(m.Data, MaxMessage)
	if err != nil {
		return x.verdict(x.names.consensus, Reject)
	}
	// A vote or proposal of a height this node has final is of no use to
	// it (the handler ignores it): ignored before its signature is
	// checked, as old announcements are, so that replayed old votes (every
	// commit holds a quorum of them, free to collect) cost a decoding.
	if cm.Height() <= x.handler.Height() {
		return pubsub.ValidationIgnore
	}
	if err := checkConsensus(x.cfg.Genesis, x.chain, x.vals, cm); err != nil {
		return x.verdict(x.names.consensus, Reject)
	}
	return x.verdict(x.names.consensus, x.handler.HandleConsensus(m.ReceivedFrom, cm))
}

// checkConsensus is what a consensus message must pass before it is
// forwarded: its signer and signature and, for a proposal, its block's
// structure. The proposer's signature covers the block's hash, its
// header: the transactions must be the ones the header counts and roots,
// or any signed proposal padded with junk would be a free 16 MiB message
// (it was ignored, not rejected: its sender lost no score).
func checkConsensus(g *consensus.Genesis, chain consensus.Chain, vals *consensus.ValidatorSet, cm *consensus.Message) error {
	if err := cm.Verify(chain, vals); err != nil {
		return err
	}
	if p := cm.Proposal; p != nil {
		return p.Block.CheckStructure(chain.ID, g.Params)
	}
	return nil
}

func (x *Host) validateFinal(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if from == x.h.ID() {
		return pubsub.ValidationAccept
	}
	var a Announce
	if err := canon.Unmarshal(m.Data, &a, maxAnnounceMessage); err != nil {
		return x.verdict(x.names.final, Reject)
	}
	if a.Header.ChainID != x.cfg.Genesis.ChainID {
		return x.verdict(x.names.final, Reject)
	}
	// A block at or below this node's height is of no use to it: ignored
	// (not forwarded) before its commit's quorum of signatures is checked,
	// so that old announcements (a node replaying history, anyone
	// replaying what it collected) cost a decoding, not signature checks.
	if a.Header.Height <= x.handler.Height() {
		return pubsub.ValidationIgnore
	}
	if err := a.Commit.Verify(x.chain, x.vals, a.Header.Height, a.Header.Hash()); err != nil {
		return x.verdict(x.names.final, Reject)
	}
	x.Proved(m.ReceivedFrom, a.Header.Height)
	return x.verdict(x.names.final, x.handler.HandleFinal(m.ReceivedFrom, &a.Header, &a.Commit))
}

// MaxWitnessAhead is how far above the node's own height an attestation
// or alarm may be: a peer a little ahead has applied blocks this node is
// about to fetch; far ahead, it speaks of blocks no one can check yet.
const MaxWitnessAhead = 64

// validateWitness judges an attestations-topic message (docs/PROTOCOL.md
// §Attestations and alarms): oversize, undecodable, of another chain or
// badly signed is the forwarder's fault (Reject); far ahead of our height,
// or one the node could not keep, is ignored before its signature is
// checked; the handler's verdict otherwise (a duplicate or one over its
// bounds is Ignored).
func (x *Host) validateWitness(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if from == x.h.ID() {
		return pubsub.ValidationAccept
	}
	w, err := x.screenWitness(m.Data)
	switch {
	case err != nil:
		return x.verdict(x.names.witness, Reject)
	case w == nil:
		// Nothing the node would keep, whatever its signature: not
		// checked, and no cost to the forwarder, which may be honest (its
		// book took what this one's has no room for).
		return pubsub.ValidationIgnore
	}
	if err := w.Verify(x.chain); err != nil {
		return x.verdict(x.names.witness, Reject)
	}
	return x.verdict(x.names.witness, x.handler.HandleWitness(m.ReceivedFrom, w))
}

// screenWitness reads an attestations-topic message without checking its
// signature: an error when it is the forwarder's fault (oversize,
// undecodable), nil and no error when the node would not keep it whatever
// its signature (far ahead of the node's height, or refused by the
// handler's WitnessFilter), the witness otherwise.
func (x *Host) screenWitness(data []byte) (*consensus.Witness, error) {
	if len(data) > consensus.MaxWitness {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", consensus.ErrAttestationInvalid, len(data), consensus.MaxWitness)
	}
	w, err := consensus.DecodeWitnessUnverified(data, x.handler.Height()+MaxWitnessAhead)
	switch {
	case errors.Is(err, consensus.ErrWitnessAhead):
		return nil, nil
	case err != nil:
		return nil, err
	}
	if f, ok := x.handler.(WitnessFilter); ok && !f.WitnessWanted(w) {
		return nil, nil
	}
	return w, nil
}

// inspectRPC runs on the gossip router's loop for every frame a peer
// sends, before the router remembers any of its messages: it takes out
// the messages the node would ignore before checking any signature
// (unwanted), so that they leave nothing behind, and every offer of
// messages (IHAVE), so that the node never asks for one (IWANT). The
// router keeps an entry for every message it saw, validated or ignored,
// for seenTTL and more (its seen cache and its scoring's delivery
// records, 250–320 bytes each), and many such messages are free to make:
// a final cast under a fresh nonce, an old vote or announcement replayed,
// a fresh key's attestation of a full height. Floods of them from many
// identities grew a node by hundreds of MB to GBs although each was
// ignored unchecked. A message taken out is as if never sent: not
// forwarded, not scored; the same one sent again once the node wants it
// is taken (it is not remembered as seen). One the forwarder is at fault
// for (undecodable, oversize, badly signed) stays in, for the validator
// to reject and score.
//
// Why no IWANT: a message the node asked a peer for must reach the
// router's validation, or the router counts the peer's promise broken and
// scores it down (14 such ban it); an honest peer offers what it took
// (its own book of attestations, a vote of the height it is at, a cast
// new to it), which this node may have no use for. Asked-for messages
// would then have to be validated and remembered, at the rate the
// offering peers choose (up to 5,000 ids a heartbeat each: 10 identities
// offering and sending attestations grew a volunteer to 1.8 GB, a hostile
// probe). Messages reach a node through the mesh, and from their author,
// who sends to every peer; what that misses is sent again by other means
// (a cast pending for RegossipAfter, a vote a lagging validator pulls, a
// final block synced).
func (x *Host) inspectRPC(from peer.ID, rpc *pubsub.RPC) error {
	if ctl := rpc.GetControl(); ctl != nil {
		ctl.Ihave = nil
	}
	if len(rpc.Publish) == 0 {
		return nil
	}
	kept := rpc.Publish[:0]
	for _, m := range rpc.Publish {
		if why := x.unwanted(from, m); why != "" {
			x.cfg.Metrics.Dropped(x.names.kind(m.GetTopic()), why)
			continue
		}
		kept = append(kept, m)
	}
	clear(rpc.Publish[len(kept):])
	rpc.Publish = kept
	return nil
}

// unwanted says why m is to be dropped (DropIgnored, DropUnread), or ""
// to keep it. DropIgnored: the node's topic validator would ignore m
// before checking any signature: a casts message every transaction of
// which the node would refuse before its signatures, for no one's fault
// (TxFilter: pending, final, replayed, of a closed ballot); a vote or
// proposal of a height the node has final; the announcement of such a
// height; a witness screenWitness drops. Whatever the validator would
// reject (the forwarder's fault) is wanted: it stays, to be rejected.
// DropUnread: a casts message of a peer whose screen budget is spent.
func (x *Host) unwanted(from peer.ID, m *pb.Message) string {
	ignored := false
	switch m.GetTopic() {
	case x.names.casts:
		f, ok := x.handler.(TxFilter)
		if !ok {
			return ""
		}
		if !x.screen.allows(from) {
			return DropUnread
		}
		var txs txsMessage
		if canon.Peek(m.Data, &txs, MaxTxMessage) != nil || len(txs.Txs) == 0 || len(txs.Txs) > MaxTxsPerMessage {
			return ""
		}
		wanted, costly := f.TxsWanted(txs.Txs)
		if !wanted {
			x.screen.spend(from, costly)
		}
		ignored = !wanted
	case x.names.consensus:
		h, ok := consensus.PeekHeight(m.Data, MaxMessage)
		ignored = ok && h <= x.handler.Height()
	case x.names.final:
		var a struct {
			Header struct {
				Height uint64 `cbor:"2,keyasint"`
			} `cbor:"1,keyasint"`
		}
		ignored = canon.Peek(m.Data, &a, maxAnnounceMessage) == nil && a.Header.Height <= x.handler.Height()
	case x.names.witness:
		w, err := x.screenWitness(m.Data)
		ignored = w == nil && err == nil
	}
	if ignored {
		return DropIgnored
	}
	return ""
}

// TxFilter is implemented by a Handler that can tell, before any
// signature is checked, that it would take none of a batch of gossiped
// transactions and that none is its forwarder's fault: wanted false when
// HandleTxs would ignore the batch unchecked. Such a batch is taken out
// of its frame (inspectRPC): a final cast is public, and sent again under
// a fresh nonce it is a new message, free to make. costly is how many of
// the transactions it read against its state to tell (the others it
// found pending, at the cost of a lookup): what the forwarder's
// screenBudget pays when the batch is dropped.
type TxFilter interface {
	TxsWanted(txs [][]byte) (wanted bool, costly int)
}

// WitnessFilter is implemented by a Handler that can tell, before a
// witness's signature is checked, that it would not keep it: a second of
// one node at one height, a height or a list of alarms already full.
// Such a message is ignored unchecked: keys are free, and a Sybil's flood
// of valid attestations must not cost a signature check each.
type WitnessFilter interface {
	WitnessWanted(w *consensus.Witness) bool
}

// PublishWitness gossips this node's attestation or alarm.
func (x *Host) PublishWitness(ctx context.Context, w *consensus.Witness) error {
	return x.publish(ctx, x.names.witness, w.Encode())
}

func (x *Host) publish(ctx context.Context, topic string, data []byte) error {
	return x.topics[topic].Publish(ctx, data)
}

// PublishTxs gossips transactions the node accepted, in as few messages
// as the limits allow. A message keeps its order (a voter's casts their
// seq order); two messages may arrive in either order.
func (x *Host) PublishTxs(ctx context.Context, txs [][]byte) error {
	for len(txs) > 0 {
		n, size := 0, 16
		for n < len(txs) && n < MaxTxsPerMessage && size+len(txs[n])+8 <= MaxTxMessage {
			size += len(txs[n]) + 8
			n++
		}
		if n == 0 {
			return fmt.Errorf("p2p: a transaction of %d bytes does not fit a gossip message", len(txs[0]))
		}
		if err := x.publish(ctx, x.names.casts, EncodeTxs(txs[:n], rand.Uint64())); err != nil {
			return err
		}
		txs = txs[n:]
	}
	return nil
}

// txsMessage is a casts-topic message. The nonce, random at each publish,
// makes two publications of the same transactions two messages: message
// ids come from the content, and a node gossiping again what waits in its
// mempool must not be taken for a duplicate of its first try (by its own
// gossipsub first of all). Forwarded copies keep the bytes, hence the id.
type txsMessage struct {
	Txs   [][]byte `cbor:"1,keyasint"`
	Nonce uint64   `cbor:"2,keyasint"`
}

// EncodeTxs is the content of a casts-topic message: the canonical CBOR
// map {1: the transactions (byte strings), 2: nonce}.
func EncodeTxs(txs [][]byte, nonce uint64) []byte {
	data, err := canon.Marshal(txsMessage{Txs: txs, Nonce: nonce})
	if err != nil {
		panic(err) // byte strings and an integer always encode
	}
	return data
}

// DecodeTxs decodes a casts-topic message: 1 to MaxTxsPerMessage
// transactions, canonical, nothing trailing.
func DecodeTxs(data []byte) ([][]byte, error) {
	var m txsMessage
	if err := canon.Unmarshal(data, &m, MaxTxMessage); err != nil {
		return nil, fmt.Errorf("p2p: casts message: %w", err)
	}
	if len(m.Txs) == 0 || len(m.Txs) > MaxTxsPerMessage {
		return nil, fmt.Errorf("p2p: casts message of %d transactions, want 1 to %d", len(m.Txs), MaxTxsPerMessage)
	}
	return m.Txs, nil
}

// PublishConsensus gossips a consensus message of this validator.
func (x *Host) PublishConsensus(ctx context.Context, m *consensus.Message) error {
	return x.publish(ctx, x.names.consensus, m.Encode())
}

// PublishFinal announces a block the node made final.
func (x *Host) PublishFinal(ctx context.Context, h *consensus.Header, c *consensus.Commit) error {
	return x.publish(ctx, x.names.final, canon.MustMarshal(Announce{Header: *h, Commit: *c}))
}

// scoreParams are the gossipsub v1.1 peer-score parameters, set on
// purpose (docs/OPERATIONS.md §Peer scoring):
//   - invalid messages (P4) weigh heavily on every topic: a peer that
//     forwards a forged cast or a bad vote loses -100 per message squared,
//     decaying over about ten minutes; a handful takes it below the
//     graylist threshold;
//   - first deliveries (P2) earn a little, capped, so honest relays are
//     preferred in meshes;
//   - time in mesh (P1) earns a little, capped;
//   - mesh delivery deficits (P3) are off: cast traffic is bursty and an
//     idle chain would penalise honest peers;
//   - IP colocation (P6) is off: a devnet runs every node on one address;
//     behaviour penalties (P7) on, as recommended.
func scoreParams(n topicNames) *pubsub.PeerScoreParams {
	topic := func(weight float64) *pubsub.TopicScoreParams {
		return &pubsub.TopicScoreParams{
			TopicWeight:                     weight,
			TimeInMeshWeight:                0.01,
			TimeInMeshQuantum:               time.Second,
			TimeInMeshCap:                   100,
			FirstMessageDeliveriesWeight:    0.5,
			FirstMessageDeliveriesDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),
			FirstMessageDeliveriesCap:       100,
			MeshMessageDeliveriesWeight:     0,
			MeshMessageDeliveriesDecay:      pubsub.ScoreParameterDecay(time.Minute),
			MeshMessageDeliveriesCap:        1,
			MeshMessageDeliveriesThreshold:  1,
			MeshMessageDeliveriesWindow:     10 * time.Millisecond,
			MeshMessageDeliveriesActivation: time.Minute,
			MeshFailurePenaltyWeight:        0,
			MeshFailurePenaltyDecay:         pubsub.ScoreParameterDecay(time.Minute),
			InvalidMessageDeliveriesWeight:  -100,
			InvalidMessageDeliveriesDecay:   pubsub.ScoreParameterDecay(10 * time.Minute),
		}
	}
	return &pubsub.PeerScoreParams{
		Topics: map[string]*pubsub.TopicScoreParams{
			n.casts:     topic(1),
			n.consensus: topic(1),
			n.final:     topic(1),
			n.witness:   topic(1),
		},
		TopicScoreCap:               50,
		AppSpecificScore:            func(peer.ID) float64 { return 0 },
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    0,
		IPColocationFactorThreshold: 1,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 30 * time.Minute,
		SeenMsgTTL:                  seenTTL, // its delivery records, as long as the router's memory
	}
}

// scoreThresholds: below -100 no gossip to or from the peer, below -200
// we do not publish to it, below -400 (three invalid messages on one topic:
// the penalty is 100 × count², per topic) everything from it is ignored
// until its score recovers.
func scoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             -100,
		PublishThreshold:            -200,
		GraylistThreshold:           -400,
		AcceptPXThreshold:           10,
		OpportunisticGraftThreshold: 2,
	}
}
