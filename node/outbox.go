package node

import (
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
// at most that, under load batches fill at once.
type outbox struct {
	publish func([][]byte)
	delay   time.Duration

	mu    sync.Mutex
	txs   [][]byte
	size  int
	timer *time.Timer
}

// outboxDelay is how long a lone transaction waits for company.
const outboxDelay = 5 * time.Millisecond

// outboxBytes is when a batch is full by size, well under a message's limit.
const outboxBytes = p2p.MaxTxMessage / 2

func newOutbox(delay time.Duration, publish func([][]byte)) *outbox {
	return &outbox{publish: publish, delay: delay}
}

// add queues transactions, in order.
func (o *outbox) add(txs ...[]byte) {
	o.mu.Lock()
	o.txs = append(o.txs, txs...)
	for _, tx := range txs {
		o.size += len(tx)
	}
	if len(o.txs) >= p2p.MaxTxsPerMessage || o.size >= outboxBytes {
		out := o.takeLocked()
		o.mu.Unlock()
		o.publish(out)
		return
	}
	if o.timer == nil && len(o.txs) > 0 {
		o.timer = time.AfterFunc(o.delay, o.flush)
	}
	o.mu.Unlock()
}

// flush gossips what waits.
func (o *outbox) flush() {
	o.mu.Lock()
	out := o.takeLocked()
	o.mu.Unlock()
	if len(out) > 0 {
		o.publish(out)
	}
}

func (o *outbox) takeLocked() [][]byte {
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	out := o.txs
	o.txs, o.size = nil, 0
	return out
}
