package driver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocorico/node/consensus"
)

// memFS is an in-memory FS that knows what a power cut keeps: the data
// a file had at its last Sync, and the folder's entries as of its last
// SyncDir (or as they are: a real file system may have persisted the
// rename anyway). It can fail, or cut the power before, its operation
// number at (counted over the state-changing operations).
type memFS struct {
	mu      sync.Mutex
	files   map[string]*memFile // current entries
	durable map[string]*memFile // entries as of the last SyncDir
	tmp     int

	kind  faultKind
	at    int
	n     int
	armed bool
	hit   string        // the operation the fault hit
	cuts  []*memFS      // the disks a power cut may leave, filled at the cut
	cut   chan struct{} // closed at the power cut
}

type memFile struct {
	name         string
	data, synced []byte
	fs           *memFS
}

type faultKind int

const (
	failOp faultKind = iota
	powerCut
)

func (k faultKind) String() string { return [...]string{"failed op", "power cut"}[k] }

var errInjected = errors.New("injected fault")

func newMemFS() *memFS {
	return &memFS{files: map[string]*memFile{}, durable: map[string]*memFile{}, cut: make(chan struct{})}
}

// step counts a state-changing operation and injects the fault at its
// number. Called with mu held.
func (m *memFS) step(op string) error {
	if !m.armed {
		return nil
	}
	i := m.n
	m.n++
	if i != m.at {
		return nil
	}
	m.hit = op
	if m.kind == failOp {
		return errInjected
	}
	// The four disks a power cut before op may leave: folder entries as
	// last synced or as they are, unsynced data lost or half written (a
	// torn write).
	for _, entries := range []map[string]*memFile{m.durable, m.files} {
		for _, torn := range []bool{false, true} {
			c := newMemFS()
			for name, f := range entries {
				data := f.synced
				if torn && len(f.data) > len(f.synced) {
					data = f.data[:len(f.synced)+(len(f.data)-len(f.synced))/2]
				}
				cf := &memFile{name: name, data: append([]byte(nil), data...), fs: c}
				cf.synced = cf.data
				c.files[name], c.durable[name] = cf, cf
			}
			m.cuts = append(m.cuts, c)
		}
	}
	m.armed = false
	close(m.cut)
	return errInjected // the process is gone: nothing after this happens
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return append([]byte(nil), f.data...), nil
}

func (m *memFS) CreateTemp(dir, pattern string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step("create " + pattern); err != nil {
		return nil, err
	}
	m.tmp++
	name := path.Join(dir, strings.Replace(pattern, "*", fmt.Sprint(m.tmp), 1))
	f := &memFile{name: name, fs: m}
	m.files[name] = f
	return f, nil
}

func (m *memFS) Rename(from, to string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step("rename " + path.Base(to)); err != nil {
		return err
	}
	f, ok := m.files[from]
	if !ok {
		return fs.ErrNotExist
	}
	delete(m.files, from)
	f.name = to
	m.files[to] = f
	return nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step("remove"); err != nil {
		return err
	}
	if _, ok := m.files[name]; !ok {
		return fs.ErrNotExist
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) SyncDir(string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step("sync folder"); err != nil {
		return err
	}
	m.durable = map[string]*memFile{}
	for k, v := range m.files {
		m.durable[k] = v
	}
	return nil
}

func (m *memFS) MkdirAll(string) error { return nil }

func (f *memFile) Name() string { return f.name }

func (f *memFile) Chmod(os.FileMode) error { return nil }

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.step("write " + path.Base(f.name)); err != nil {
		return 0, err
	}
	f.data = append(f.data, p...)
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.step("fsync " + path.Base(f.name)); err != nil {
		return err
	}
	f.synced = append([]byte(nil), f.data...)
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.fs.step("close " + path.Base(f.name))
}

// world records, across the lives of one validator, every message it
// sent and every block it applied; after a power cut nothing more leaves.
type world struct {
	mu      sync.Mutex
	dead    bool
	sent    []*consensus.Message
	applied []*consensus.Block
	chainID string
	avail   chan struct{}
	target  uint64 // no transaction pending once this height is applied
}

func (w *world) Broadcast(m *consensus.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dead {
		w.sent = append(w.sent, m)
	}
}
func (w *world) Pull(uint64) {}

func (w *world) ProposeBlock(_ context.Context, h uint64, p uint16, t time.Time) (*consensus.Block, error) {
	// A new time on every call: a validator that forgot its proposal
	// proposes a different block.
	return &consensus.Block{Header: consensus.Header{ChainID: w.chainID, Height: h, Time: time.Now().UnixNano(), TxRoot: consensus.MerkleRoot(nil), Proposer: p}}, nil
}
func (w *world) ValidateBlock(context.Context, *consensus.Block) error { return nil }
func (w *world) ApplyBlock(_ context.Context, b *consensus.Block, _ *consensus.Commit) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dead {
		w.applied = append(w.applied, b)
	}
	return nil
}
func (w *world) Pending() int {
	if w.height() >= w.target {
		return 0
	}
	return 1
}
func (w *world) TxsAvailable() <-chan struct{} { return w.avail }

func (w *world) height() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return uint64(len(w.applied))
}

// conflict returns two messages of the validator that sign different
// things for one (height, round, step), if any.
func (w *world) conflict() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]consensus.Hash{}
	for _, m := range w.sent {
		var key string
		var id consensus.Hash
		if p := m.Proposal; p != nil {
			key, id = fmt.Sprintf("proposal %d/%d", p.Height, p.Round), p.Block.Hash()
		} else {
			key, id = fmt.Sprintf("%v %d/%d", m.Vote.Type, m.Vote.Height, m.Vote.Round), m.Vote.BlockHash
		}
		if prev, ok := seen[key]; ok && prev != id {
			return fmt.Sprintf("%s signed for %s and for %s", key, prev.Short(), id.Short())
		}
		seen[key] = id
	}
	decided := map[uint64]consensus.Hash{}
	for _, b := range w.applied {
		if prev, ok := decided[b.Header.Height]; ok && prev != b.Hash() {
			return fmt.Sprintf("two blocks decided at height %d", b.Header.Height)
		}
		decided[b.Header.Height] = b.Hash()
	}
	return ""
}

// live runs one life of the validator on fsys until it has decided
// height target, the power is cut, or the driver stops on an error.
func live(t *testing.T, g *consensus.Genesis, w *world, fsys *memFS, target uint64) error {
	t.Helper()
	w.target = target
	st, err := NewFileStorage(fsys, "state")
	if err != nil {
		return err
	}
	d, err := New(Config{Genesis: g, Key: testKey(0), Storage: st, Height: w.height()}, w, w)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case err := <-done:
			return err
		case <-fsys.cut:
			w.mu.Lock()
			w.dead = true
			w.mu.Unlock()
			cancel()
			<-done
			return errInjected
		case <-deadline:
			t.Fatal("the validator decided nothing in 20 s")
		case <-time.After(5 * time.Millisecond):
			if w.height() >= target {
				cancel()
				return <-done
			}
		}
	}
}

func testKey(i int) []byte {
	_, keys := testGenesis(i + 1)
	return keys[i]
}

// A lone validator (its own quorum) proposes, prevotes, precommits and
// decides, saving its hard state before each message leaves. Every step
// of every save of its first height (create, write, fsync, close, rename,
// fsync of the folder, the valid block's file and the state's) is failed
// in turn, and the power is cut before it in turn (leaving each of four
// possible disks: renames durable or not, unsynced data lost or torn).
// The validator then restarts from that disk and decides the height:
// over all its lives it never signs two different proposals or votes for
// one step, and never decides two blocks at one height.
func TestStateSaveUnderEveryFaultNeverSignsConflictingVotes(t *testing.T) {
	g, _ := testGenesis(1)
	g.Params.HeartbeatMs = 3_600_000 // a height only when a transaction waits
	points := map[faultKind]int{}
	for _, kind := range []faultKind{failOp, powerCut} {
		for at := 0; ; at++ {
			fsys := newMemFS()
			fsys.kind, fsys.at, fsys.armed = kind, at, true
			w := &world{chainID: g.ChainID, avail: make(chan struct{})}
			err := live(t, g, w, fsys, 1)
			fsys.mu.Lock()
			hit, cuts := fsys.hit, fsys.cuts
			fsys.armed = false
			fsys.mu.Unlock()
			if hit == "" {
				if err != nil {
					t.Fatalf("no fault injected, still: %v", err)
				}
				break
			}
			points[kind]++
			disks := cuts
			if kind == failOp {
				disks = []*memFS{fsys} // the node stops; its disk as it is
			}
			for i, disk := range disks {
				w := &world{chainID: g.ChainID, avail: make(chan struct{}), sent: append([]*consensus.Message(nil), w.sent...),
					applied: append([]*consensus.Block(nil), w.applied...)}
				if err := live(t, g, w, disk, 2); err != nil {
					if errors.Is(err, ErrStateCorrupt) {
						continue // refusing to start is safe
					}
					t.Fatalf("%s at op %d (%s), disk %d: restart: %v", kind, at, hit, i, err)
				}
				if c := w.conflict(); c != "" {
					t.Fatalf("%s at op %d (%s), disk %d: %s", kind, at, hit, i, c)
				}
			}
		}
	}
	t.Logf("injection points: %d failed ops, %d power cuts (4 disks each), no conflicting signature", points[failOp], points[powerCut])
}
