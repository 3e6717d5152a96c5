package node

import (
	"context"
	"io/fs"
	"path/filepath"
	"sync"
	"time"
)

// SyncProgress is how a node catching up is doing.
type SyncProgress struct {
	Height, Target uint64
	// BlocksPerSec and TxsPerSec are the rates of the last report period:
	// every block's commit and every cast's signatures verified.
	BlocksPerSec, TxsPerSec float64
}

// progress measures sync speed from the blocks the follower applies.
type progress struct {
	mu              sync.Mutex
	since           time.Time
	blocks, txs     int
	last            SyncProgress
	lastBlocks, tot uint64
}

func (p *progress) applied(txs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.since.IsZero() {
		p.since = time.Now()
	}
	p.blocks++
	p.txs += txs
}

// roll closes a period: rates over it, then a new one.
func (p *progress) roll(height, target uint64) SyncProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := SyncProgress{Height: height, Target: max(target, height)}
	if d := time.Since(p.since).Seconds(); !p.since.IsZero() && d > 0 {
		s.BlocksPerSec, s.TxsPerSec = float64(p.blocks)/d, float64(p.txs)/d
	}
	p.since, p.blocks, p.txs = time.Now(), 0, 0
	p.last = s
	return s
}

// SyncProgress returns the node's sync progress: its height, the highest
// height peers announced, and the rates of the last few seconds.
func (n *Node) SyncProgress() SyncProgress {
	if n.net == nil {
		return SyncProgress{Height: n.ledger.Height(), Target: n.ledger.Height()}
	}
	n.net.progress.mu.Lock()
	s := n.net.progress.last
	n.net.progress.mu.Unlock()
	s.Height = n.ledger.Height()
	t, _ := n.net.host.PeerHeight()
	s.Target = max(t, s.Height)
	return s
}

// reportProgress logs the sync progress every period while the node is
// behind (the structured form of the volunteer's progress bar).
func (nw *peerNetwork) reportProgress(ctx context.Context, every time.Duration) {
	behind := false // the last report said the node was behind
	everyTick(ctx, every, func() {
		target, _ := nw.host.PeerHeight()
		s := nw.progress.roll(nw.n.ledger.Height(), target)
		var caughtUp bool
		behind, caughtUp = syncReport(s, behind)
		switch {
		case behind:
			nw.n.logger.Info("sync progress", "height", s.Height, "target", s.Target, "behind", s.Target-s.Height,
				"blocks_per_s", int(s.BlocksPerSec), "casts_per_s", int(s.TxsPerSec))
		case caughtUp:
			nw.n.logger.Info("sync: caught up with the peers", "height", s.Height)
		}
	})
}

// syncReport judges a report period: the node is behind its peers, or it
// has caught up with them (level at the first report after being behind).
func syncReport(s SyncProgress, wasBehind bool) (behind, caughtUp bool) {
	behind = s.Target > s.Height
	return behind, wasBehind && !behind && s.Height > 0
}

// dirSize returns the bytes of the files under dir (their sizes: a
// ledger's RESERVE, allocated disk of size 0, does not count).
func dirSize(dir string) int64 { return sumFiles(dir, fs.FileInfo.Size) }

// DiskBytes returns the disk the files under dir take: their blocks (a
// ledger's RESERVE counts).
func DiskBytes(dir string) int64 { return sumFiles(dir, diskBytes) }

// sumFiles adds up size over the files under dir.
func sumFiles(dir string, size func(fs.FileInfo) int64) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += size(info)
			}
		}
		return nil
	})
	return n
}

// watchDisk stops the follower from applying more blocks while the ledger
// is over the volunteer's disk limit (checked every period).
func (nw *peerNetwork) watchDisk(ctx context.Context, limit int64, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		over := dirSize(nw.n.cfg.Home.LedgerDir()) > limit
		if over != nw.diskFull.Load() {
			nw.diskFull.Store(over)
			if over {
				nw.n.logger.Error("ledger over the disk limit: this volunteer stops following the chain until space is freed or the limit raised",
					"limit_bytes", limit)
			} else {
				nw.n.logger.Info("ledger back under the disk limit: following the chain again")
				nw.poke()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
