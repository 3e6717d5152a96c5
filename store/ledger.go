package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/cocorico/node/consensus"
)

// Key layout of the ledger (docs/OPERATIONS.md §Ledger):
//
//	"m/genesis"         → genesis hash (32 bytes): the chain this ledger belongs to
//	"m/height"          → last final height (8 bytes, big endian)
//	"m/base"            → lowest height of the top range of blocks (8 bytes);
//	                      absent = 1. A ledger restored from a snapshot at
//	                      height h starts with base h
//	"m/filled"          → blocks 1..filled are stored below the base (8
//	                      bytes); absent = 0. Back-fill raises it until the
//	                      gap closes, then base = 1 and filled = 0 again
//	"m/restoring"       → present (empty value) while a state restore is
//	                      under way: the state is partial
//	"m/verified"        → the height from which this node verified every
//	                      cast itself (8 bytes); absent = 1. A ledger
//	                      restored at h has h+1 (back-filled blocks are
//	                      checked against their commits only) until
//	                      Reverified sets 1
//	"h/" ‖ height       → canonical header
//	"t/" ‖ height ‖ i   → transaction i (4 bytes, big endian) of the block
//	"c/" ‖ height       → canonical commit
//	"x/" ‖ tx id        → height (8) ‖ index (4) of the transaction
//	"s/" ‖ app key      → the application's state
var (
	keyGenesis   = []byte("m/genesis")
	keyHeight    = []byte("m/height")
	keyBase      = []byte("m/base")
	keyFilled    = []byte("m/filled")
	keyRestoring = []byte("m/restoring")
	keyVerified  = []byte("m/verified")
	prefixHeader = []byte("h/")
	prefixTxs    = []byte("t/")
	prefixCommit = []byte("c/")
	prefixTx     = []byte("x/")
	prefixState  = []byte("s/")
)

// Options configure a Ledger. The zero value is usable.
type Options struct {
	// CacheBytes is Pebble's block cache; default 128 MiB. At a million
	// voter records the ledger is ~0.7 GB and every cast reads its voter
	// record (a miss, mostly; measured before the state's voter filter
	// answered most misses from memory): with 64 MiB the filter and index
	// blocks of the sstables were read from the files again and again (a
	// quarter of a replaying volunteer's CPU); 128 MiB replayed 1,000,000
	// casts in 67 s instead of 86 s, 256 and 512 MiB no faster. Ignored
	// when Cache is set.
	CacheBytes int64
	// Cache, if not nil, is a block cache shared with the other ledgers
	// of the process (a devnet's nodes) instead of one of CacheBytes of
	// the ledger's own: one bound on the process's cache memory, and the
	// blocks a busy ledger reads may take what an idle one leaves.
	Cache *Cache
	// MemTableBytes is the size Pebble's memtable grows to (it starts
	// small; one more may be flushing); default 32 MiB. A block of casts
	// writes megabytes: Pebble's 4 MiB default flushed every block or two
	// and compacted the small files again and again (a sixth of a
	// replaying node's CPU at 100,000 casts; a twentieth at 32 MiB).
	MemTableBytes uint64
	// Logger receives Pebble's own messages; default slog.Default().
	Logger *slog.Logger
	// NoSync skips fsync on commit. Only for tests and benchmarks of
	// throughput: a crash may lose final blocks.
	NoSync bool
	// Scratch is for a ledger thrown away after use (the state a
	// re-verification or a recount replays, app.Reverify): no write-ahead
	// log, so nothing survives a crash, and a full disk fails a flush
	// (logged, retried) instead of stopping the process as a log write
	// that fails does (Fatal).
	Scratch bool
	// FS is the file system the ledger lives on; default the OS's. Tests
	// hand in vfs.NewMem() or an errorfs.FS to inject faults.
	FS vfs.FS
	// Fatal is called when Pebble cannot go on (a failed MANIFEST or WAL
	// write); it must not return. Default: exit with status 1 once the
	// message is logged.
	Fatal func(msg string)
	// ReserveBytes is the room the ledger keeps allocated in its folder
	// (the file RESERVE) and releases when its disk fills, so that the
	// write under way completes and the node stops cleanly
	// (store/reserve.go); default DefaultReserveBytes, negative: none.
	// Open refuses a disk that cannot hold it (ErrDiskFull).
	ReserveBytes int64
	// ResumeRestore opens a ledger whose state sync was interrupted (the
	// "m/restoring" marker is there) instead of refusing it with
	// ErrRestoreIncomplete. Such a ledger is at height 0 with a partial
	// state: it refuses Commit, RestoreWrites and FinishRestore until
	// BeginRestore, which deletes the partial state and starts again.
	ResumeRestore bool
}

func (o *Options) ensureDefaults() {
	if o.CacheBytes == 0 {
		o.CacheBytes = 128 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 32 << 20
	}
	if o.ReserveBytes == 0 {
		o.ReserveBytes = DefaultReserveBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Fatal == nil {
		o.Fatal = exitOnFatal
	}
}

// Ledger is a node's append-only chain on Pebble. Commit is called by one
// goroutine at a time (the consensus driver or the block follower); reads
// are safe from any goroutine and see whole blocks only.
type Ledger struct {
	db      *pebble.DB
	opts    Options
	corrupt corruption
	height  atomic.Uint64
	// span is the stored range below the top one (base, filled); one
	// pointer, so that a read sees both from the same write.
	span atomic.Pointer[span]
	mu   sync.Mutex // serialises Commit, the restore and Checkpoint
	// restore is where a state restore stands; guarded by mu.
	restore restoreState
	// verifiedFrom is "m/verified": written by FinishRestore, then by
	// Reverified.
	verifiedFrom atomic.Uint64
	fillMu       sync.Mutex // serialises Backfill

	// reserve is the disk reserve (store/reserve.go); Pebble gets its
	// file system wrapped to release it on ENOSPC.
	reserve *diskReserve

	closeOnce sync.Once
	closeErr  error
}

// span says which blocks a ledger restored from a snapshot holds: 1..filled
// and base..height; the heights in between are not back-filled yet. A
// ledger synced from genesis, or whose gap has closed, has base 1 and
// filled 0.
type span struct{ base, filled uint64 }

// restoreState is where a state restore stands.
type restoreState int

const (
	restoreNone        restoreState = iota
	restoreInterrupted              // marker found at Open (Options.ResumeRestore): BeginRestore first
	restoreUnderWay                 // BeginRestore called, FinishRestore not yet
)

// Open opens or creates the ledger in dir for the chain whose genesis hash
// is genesis. A ledger of another chain is refused with ErrOtherChain; a
// folder with Pebble files but no MANIFEST, or a corrupt file, with
// ErrCorrupt naming what is wrong (never a fresh ledger, never a panic).
func Open(dir string, genesis consensus.Hash, opts Options) (*Ledger, error) {
	opts.ensureDefaults()
	var cache *pebble.Cache
	if opts.Cache != nil {
		cache = opts.Cache.c // Pebble's Open takes a reference of its own
	} else {
		cache = pebble.NewCache(opts.CacheBytes)
		defer cache.Unref()
	}
	po := ledgerPebbleOptions(cache)
	po.MemTableSize = opts.MemTableBytes
	po.DisableWAL = opts.Scratch
	l := &Ledger{opts: opts}
	l.reserve = &diskReserve{what: "ledger", size: opts.ReserveBytes, fs: l.fs(), logger: opts.Logger, fatal: opts.Fatal}
	if err := l.reserve.keep(dir); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	db, err := openPebble(dir, l.reserve.wrap(), po, &l.corrupt, opts.Logger, opts.Fatal)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	l.db = db
	if err := l.init(genesis); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	return l, nil
}

// Cache is a Pebble block cache that several ledgers of one process
// share (Options.Cache). Each ledger opened with it holds a reference
// until it is closed; Close releases the creator's, and the memory goes
// when the last ledger using it is closed too.
type Cache struct {
	c    *pebble.Cache
	once sync.Once
}

// NewCache returns a block cache of bytes for Options.Cache.
func NewCache(bytes int64) *Cache { return &Cache{c: pebble.NewCache(bytes)} }

// Close releases the creator's reference; closing again does nothing.
func (c *Cache) Close() { c.once.Do(c.c.Unref) }

// ledgerPebbleOptions are the Pebble options of a ledger, and of the
// read-only snapshots of it.
func ledgerPebbleOptions(cache *pebble.Cache) *pebble.Options {
	po := &pebble.Options{Cache: cache}
	// Bloom filters on every level: most point reads on the hot path miss
	// (is this cast id already final? has this voter key voted?) and a
	// filter answers them without reading a block.
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	// No compression: a ledger's blocks are casts, index entries and voter
	// records, mostly signatures, keys and hashes. Pebble's default
	// (Snappy) stores a block compressed only if it shrinks by 12 %, and a
	// block of casts shrinks by about 8 %
	// (TestABlockOfCastsShrinksTooLittleForPebbleToKeepItCompressed):
	// Snappy ran on every block written, flushes and compactions, for
	// blocks kept raw — 10–12 % of the ledger's CPU per cast
	// (BenchmarkLedgerCommitBlockOf4000Casts, 14.7 and 13.7 against 12.9
	// and 12.4 cpu-µs/cast). The index entries and voter records did
	// shrink: without compression a ledger is ~4 % larger and its
	// compactions write ~30 % more bytes (deploy/measure-scale.sh, 200,000
	// casts: 346 MB against 333, 377 MB of tables written against 292),
	// for a volunteer's replay ~4 % faster. Tables written before stay as
	// they are.
	po.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	// Blocks of 32 KiB instead of Pebble's 4 KiB: a table is written a
	// block at a time (one write call each, through a 4 KiB buffer), and
	// a ledger's tables are mostly rewritten by compactions, which took a
	// quarter of a devnet's CPU at 1,000,000 casts. Eight times fewer
	// blocks cut the ledger's CPU per cast by ~30 %
	// (BenchmarkLedgerCommitBlockOf4000Casts -benchtime 250x: 8.4 and
	// 8.1 cpu-µs/cast against 11.6 and 12.3), and the 1,000,000-cast
	// replay by 10 % (deploy/measure-scale.sh: 36.9 s against 41.0 s). A
	// point read that finds its key reads a bigger block: 12.8 µs
	// against 10.6 (BenchmarkLedgerGetAmongAMillionRecords); one that
	// does not (the bloom filter's answer) and scans cost the same or
	// less. Tables written before keep their blocks.
	for i := range po.Levels {
		po.Levels[i].BlockSize = 32 << 10
	}
	// Every table Pebble writes holds one kind of key (splitByKind).
	po.Experimental.SpanPolicyFunc = splitByKind
	return po
}

// splitByKind ends each table that Pebble writes, in a flush or a
// compaction, where a kind of key ends: a table holds only headers, only
// transactions, only commits, only the transaction index, or only one
// kind of the application's state ("s/" and the app key's first byte).
//
// A ledger is mostly written in increasing key order: the headers,
// transactions and commits of each new block, and the state's records
// list (entries and leaves, numbered in order) come after every key of
// their kind already written. Only the transaction index and the voter
// records land anywhere. When a flush wrote all kinds into one table,
// that table's range covered every kind and overlapped the tables below
// it, so each compaction rewrote the transactions with the index and
// records around them, again at each level. A table of one increasing
// kind overlaps nothing below it, and Pebble moves it down a level
// without reading or writing it (a move compaction).
// BenchmarkLedgerCommitBlockOf4000Casts/with_leaves_and_entries_of_records,
// a million casts (-benchtime 250x): write amplification 2.10 against
// 3.07–3.43, 11.9–12.6 cpu-µs a cast against 14.5–15.1; four million
// (1000x): 2.18 against 3.96, 16.9 against 19.5. docs/OPERATIONS.md
// §Ledger ("Tables of one kind") has a volunteer's replay and a devnet's
// run at 1,000,000 casts.
func splitByKind(start []byte) (pebble.SpanPolicy, []byte, error) {
	return pebble.SpanPolicy{}, upperBound(keyKind(start)), nil
}

// keyKind is the prefix that names k's kind: two bytes for the ledger's
// own keys ("t/"), three for the application's state ("s/v").
func keyKind(k []byte) []byte {
	n := 2
	if bytes.HasPrefix(k, prefixState) {
		n++
	}
	return k[:min(n, len(k))]
}

func (l *Ledger) init(genesis consensus.Hash) error {
	l.span.Store(&span{base: 1})
	l.verifiedFrom.Store(1)
	stored, found, err := l.get(keyGenesis)
	if err != nil {
		return err
	}
	if !found {
		b := l.db.NewBatch()
		defer b.Close()
		b.Set(keyGenesis, genesis[:], nil)
		b.Set(keyHeight, be64(0), nil)
		return l.reserve.commit(b, l.syncOpt())
	}
	if !bytes.Equal(stored, genesis[:]) {
		return fmt.Errorf("%w: it was made for genesis %x, this node runs genesis %s", ErrOtherChain, stored, genesis)
	}
	h, found, err := l.get(keyHeight)
	if err != nil {
		return err
	}
	if !found || len(h) != 8 {
		return fmt.Errorf("%w: no height record", ErrCorrupt)
	}
	l.height.Store(binary.BigEndian.Uint64(h))
	base, err := l.getHeight(keyBase, 1)
	if err != nil {
		return err
	}
	filled, err := l.getHeight(keyFilled, 0)
	if err != nil {
		return err
	}
	if base == 0 || filled >= base || (base > 1 && base > l.Height()) {
		return fmt.Errorf("%w: base %d, filled %d at height %d", ErrCorrupt, base, filled, l.Height())
	}
	l.span.Store(&span{base: base, filled: filled})
	verified, err := l.getHeight(keyVerified, 1)
	if err != nil {
		return err
	}
	if verified == 0 || verified > l.Height()+1 {
		return fmt.Errorf("%w: verified from %d at height %d", ErrCorrupt, verified, l.Height())
	}
	l.verifiedFrom.Store(verified)
	_, restoring, err := l.get(keyRestoring)
	if err != nil {
		return err
	}
	if restoring {
		if !l.opts.ResumeRestore {
			return ErrRestoreIncomplete
		}
		l.restore = restoreInterrupted
	}
	return nil
}

// getHeight reads an 8-byte meta record; def when it is absent.
func (l *Ledger) getHeight(key []byte, def uint64) (uint64, error) {
	v, found, err := l.get(key)
	switch {
	case err != nil:
		return 0, err
	case !found:
		return def, nil
	case len(v) != 8:
		return 0, fmt.Errorf("%w: %s record of %d bytes", ErrCorrupt, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Flush writes what the log holds into table files (Pebble's memtable
// flush): for a backup taken from a stopped node's files, and for tests.
func (l *Ledger) Flush() error { return l.corrupt.wrap(l.db.Flush()) }

// StartFlush starts writing the ledger's memtable to a table and returns
// at once; the returned channel is closed when that flush is done. A
// checkpoint copies the log of every write not yet in a table (Pebble
// cannot link a log that it reuses), so a node calls it one block before
// a snapshot: the snapshot's Take then copies about one block's log
// instead of up to two memtables' (64 MiB), in the apply path.
func (l *Ledger) StartFlush() (<-chan struct{}, error) {
	done, err := l.db.AsyncFlush()
	if err != nil {
		return nil, fmt.Errorf("flush: %w", l.corrupt.wrap(err))
	}
	return done, nil
}

// Close closes the ledger; closing it again does nothing.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.db.Close() })
	return l.closeErr
}

// Memory is what a ledger's Pebble holds in memory besides Go's heap
// (in a build with cgo; without it, these bytes are in Go's heap).
type Memory struct {
	// CacheBytes is its block cache's use: the whole shared cache's when
	// Options.Cache is shared with other ledgers (a devnet's nodes).
	CacheBytes uint64
	// MemTableBytes are its memtables: the one being filled, those being
	// flushed, and those kept for reuse or still read.
	MemTableBytes uint64
}

// Memory returns what the ledger holds in memory now (for metrics).
func (l *Ledger) Memory() Memory {
	m := l.db.Metrics()
	return Memory{CacheBytes: uint64(max(m.BlockCache.Size, 0)), MemTableBytes: m.MemTable.Size + m.MemTable.ZombieSize}
}

// Writes counts the bytes a ledger wrote since it was opened: what its
// batches asked, and what Pebble wrote into its tables to hold it. Their
// ratio is the ledger's write amplification, the cost of its compactions.
type Writes struct {
	// Batches are the bytes of the batches committed, as the write-ahead
	// log took them (0 on a scratch ledger, which keeps no log).
	Batches uint64
	// Tables are the bytes of the tables written: memtables flushed and
	// tables rewritten by compactions (a table moved to another level
	// unchanged is not written again).
	Tables uint64
}

// Writes returns what the ledger wrote since it was opened (for metrics).
func (l *Ledger) Writes() Writes {
	m := l.db.Metrics()
	w := Writes{Batches: m.WAL.BytesIn}
	for _, lm := range m.Levels {
		w.Tables += lm.TableBytesFlushed + lm.TableBytesCompacted
	}
	return w
}

// Height returns the last final height (0 before the first block).
func (l *Ledger) Height() uint64 { return l.height.Load() }

// Commit writes a final block, its commit, the index of its transactions
// (ids in block order) and the application's state writes in one synced
// batch: after a crash the ledger holds the whole block or none of it.
func (l *Ledger) Commit(b *consensus.Block, c *consensus.Commit, txIDs []consensus.Hash, writes []KV) error {
	h := b.Header.Height
	if len(txIDs) != len(b.Txs) {
		return fmt.Errorf("commit block %d: %d tx ids for %d txs", h, len(txIDs), len(b.Txs))
	}
	// The batch is built before the lock: a snapshot's checkpoint may
	// hold it (Snapshots.Start).
	batch := l.db.NewBatchWithSize(blockBatchBytes(b, c, writes))
	defer batch.Close()
	writeBlock(batch, b, c, txIDs)
	for _, w := range writes {
		setCat(batch, prefixState, w.Key, w.Value)
	}
	batch.Set(keyHeight, be64(h), nil)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.restore != restoreNone {
		return fmt.Errorf("commit block %d: %w", h, errRestoring)
	}
	if want := l.height.Load() + 1; h != want {
		return fmt.Errorf("%w: got %d, want %d", ErrNotNext, h, want)
	}
	if err := l.reserve.commit(batch, l.syncOpt()); err != nil {
		return fmt.Errorf("commit block %d: %w", h, l.corrupt.wrap(err))
	}
	l.height.Store(h)
	return nil
}

// writeBlock puts a block's header, commit, transactions and their index
// into batch: what Commit, FinishRestore and Backfill write of a block.
// The caller has checked len(txIDs) == len(b.Txs).
func writeBlock(batch *pebble.Batch, b *consensus.Block, c *consensus.Commit, txIDs []consensus.Hash) {
	hk := be64(b.Header.Height)
	setCat(batch, prefixHeader, hk, b.Header.Encode())
	setCat(batch, prefixCommit, hk, c.Encode())
	loc := make([]byte, 12)
	copy(loc, hk)
	for i := range txIDs {
		binary.BigEndian.PutUint32(loc[8:], uint32(i))
		setCat(batch, prefixTxs, loc, b.Txs[i])
	}
	// The index in id order: Pebble inserts a batch's keys into its
	// memtable in batch order, and a key near the one before costs less
	// (its skiplist starts from where the last one went).
	order := make([]int, len(txIDs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return bytes.Compare(txIDs[x][:], txIDs[y][:]) })
	for _, i := range order {
		binary.BigEndian.PutUint32(loc[8:], uint32(i))
		setCat(batch, prefixTx, txIDs[i][:], loc)
	}
}

// setCat sets key prefix ‖ key to value in batch, writing the key and
// the value straight into the batch (no key built apart, no copy grown).
func setCat(batch *pebble.Batch, prefix, key, value []byte) {
	op := batch.SetDeferred(len(prefix)+len(key), len(value))
	copy(op.Key[copy(op.Key, prefix):], key)
	copy(op.Value, value)
	op.Finish()
}

// blockBatchBytes is about the size of the batch Commit writes for a
// block (Pebble's batch encoding: a kind byte and two varint lengths per
// record), so that the batch is allocated once instead of grown by copies
// as it fills.
func blockBatchBytes(b *consensus.Block, c *consensus.Commit, writes []KV) int {
	const record = 1 + 2*binary.MaxVarintLen32
	n := 12 + 4*record + 512 + len(c.Signatures)*128 // the batch's header, header, commit, height
	for _, tx := range b.Txs {
		n += 2*record + 2 + 12 + len(tx) + 2 + 32 + 12
	}
	for _, w := range writes {
		n += record + 2 + len(w.Key) + len(w.Value)
	}
	return n
}

// syncOpt is how a block's batch is committed: synced unless
// Options.NoSync.
func (l *Ledger) syncOpt() *pebble.WriteOptions {
	if l.opts.NoSync || l.opts.Scratch { // (Pebble refuses Sync without a log)
		return pebble.NoSync
	}
	return pebble.Sync
}

// KV is one write of the application's state.
type KV struct {
	Key, Value []byte
}

// PutState writes state keys outside a block, in one batch: only what
// the state derives from its own records (the records list's leaf hashes,
// which a ledger of an older build lacks), never a record. The batch is
// not synced: lost in a crash, the same writes are made again at the next
// start, and the next block's synced batch makes them durable.
func (l *Ledger) PutState(writes []KV) error {
	b := l.db.NewBatch()
	defer b.Close()
	for _, w := range writes {
		if err := b.Set(cat(prefixState, w.Key), w.Value, nil); err != nil {
			return err
		}
	}
	if err := l.reserve.commit(b, pebble.NoSync); err != nil {
		return fmt.Errorf("state writes: %w", l.corrupt.wrap(err))
	}
	return nil
}

func (l *Ledger) get(key []byte) ([]byte, bool, error) {
	v, found, err := getClone(l.db, key)
	return v, found, l.corrupt.wrap(err)
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func cat(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// upperBound returns the smallest key greater than every key with prefix p.
func upperBound(p []byte) []byte {
	u := bytes.Clone(p)
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] != 0xff {
			u[i]++
			return u[:i+1]
		}
	}
	return nil
}
