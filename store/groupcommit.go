package store

import (
	"github.com/cockroachdb/pebble/v2"
)

// maxGroup bounds the records committed in one batch.
const maxGroup = 1024

// pendingRecord is an issuance record waiting for its group's sync.
type pendingRecord struct {
	key, val []byte
	done     chan error // buffered: the committer never waits on a waiter
}

// groupCommitter writes records in groups: the records queued while a
// sync runs go together in the next batch, committed with one
// pebble.Sync, and each waiter is woken with the batch's outcome. So n
// concurrent issuances cost one WAL sync instead of n, and no caller
// returns before its record is synced (etcd's and Pebble's own group
// commit, made explicit so that a batch holds every record that arrived
// together). Its one goroutine lives from openGroupCommitter to stop.
type groupCommitter struct {
	db      *pebble.DB
	queue   chan *pendingRecord
	stopped chan struct{} // closed by stop
	done    chan struct{} // closed when the goroutine has returned
	// committed is called, in the goroutine, with the records of each
	// synced batch, before their waiters are woken.
	committed func([]*pendingRecord)
	// reserve commits each batch (and refuses it on a full disk).
	reserve *diskReserve
}

func openGroupCommitter(db *pebble.DB, reserve *diskReserve, committed func([]*pendingRecord)) *groupCommitter {
	g := &groupCommitter{db: db, queue: make(chan *pendingRecord, maxGroup), stopped: make(chan struct{}),
		done: make(chan struct{}), committed: committed, reserve: reserve}
	go g.run()
	return g
}

// commit queues a record and waits until it is synced (nil) or failed.
func (g *groupCommitter) commit(key, val []byte) error {
	p := &pendingRecord{key: key, val: val, done: make(chan error, 1)}
	select {
	case g.queue <- p:
	case <-g.stopped:
		return ErrClosed
	}
	return <-p.done
}

func (g *groupCommitter) run() {
	defer close(g.done)
	group := make([]*pendingRecord, 0, maxGroup)
	for {
		select {
		case p := <-g.queue:
			group = append(group[:0], p)
		case <-g.stopped:
			g.refuseQueued()
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case p := <-g.queue:
				group = append(group, p)
			default:
				break more
			}
		}
		err := g.write(group)
		if err == nil {
			g.committed(group)
		}
		for _, p := range group {
			p.done <- err
		}
	}
}

func (g *groupCommitter) write(group []*pendingRecord) error {
	b := g.db.NewBatch()
	defer b.Close()
	for _, p := range group {
		if err := b.Set(p.key, p.val, nil); err != nil {
			return err
		}
	}
	return g.reserve.commit(b, pebble.Sync)
}

// refuseQueued answers the records still queued at stop.
func (g *groupCommitter) refuseQueued() {
	for {
		select {
		case p := <-g.queue:
			p.done <- ErrClosed
		default:
			return
		}
	}
}

// stop ends the goroutine once the batch under way is answered; later
// commits are refused with ErrClosed.
func (g *groupCommitter) stop() {
	close(g.stopped)
	<-g.done
}
