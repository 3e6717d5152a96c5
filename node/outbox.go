package node

import (
	"context"
	"sync"
	"time"

	"github.com/cocorico/node/p2p"
)

// outbox gathers the transactions the node accepted and gossips them a
// batch at a time: one message per batch rather than per cast, so that
// what a gossip message costs (framing, encryption, a message id, a
// validator call on every peer) is paid once for many casts. A batch
// leaves when it is full or when its first transaction has waited
// outboxDelay, whichever comes first: at a trickle a cast is delayed by
// at most that, under load batches fill at once. Its one goroutine is
// run's, which the peer network owns.
type outbox struct {
	delay time.Duration
	full  chan struct{} // a batch is full: send it now
	first chan struct{} // a batch started: send it after delay

	mu   sync.Mutex
	txs  [][]byte
	size int
}

// outboxDelay is how long a lone transaction waits for company.
const outboxDelay = 5 * time.Millisecond

// outboxBytes is when a batch is full by size, well under a message's limit.
const outboxBytes = p2p.MaxTxMessage / 2

func newOutbox(delay time.Duration) *outbox {
	return &outbox{delay: delay, full: make(chan struct{}, 1), first: make(chan struct{}, 1)}
}

// add queues transactions, in order.
func (o *outbox) add(txs ...[]byte) {
	if len(txs) == 0 {
		return
	}
	o.mu.Lock()
	started := len(o.txs) == 0
	o.txs = append(o.txs, txs...)
	for _, tx := range txs {
		o.size += len(tx)
	}
	full := len(o.txs) >= p2p.MaxTxsPerMessage || o.size >= outboxBytes
	o.mu.Unlock()
	signal := o.first
	if full {
		signal = o.full
	} else if !started {
		return
	}
	select {
	case signal <- struct{}{}:
	default:
	}
}

// run publishes the batches until ctx ends.
func (o *outbox) run(ctx context.Context, publish func([][]byte)) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	send := func() {
		timer.Stop()
		o.mu.Lock()
		out := o.txs
		o.txs, o.size = nil, 0
		o.mu.Unlock()
		if len(out) > 0 {
			publish(out)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.full:
			send()
		case <-o.first:
			timer.Reset(o.delay)
		case <-timer.C:
			send()
		}
	}
}
