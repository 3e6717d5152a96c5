package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"testing"
)

// Every table of a ledger holds one kind of key, after flushes and after
// compactions down to the last level: the tables of headers,
// transactions, commits and the records list then overlap nothing below
// them, and Pebble moves them down instead of rewriting them with the
// index and the voter records (splitByKind).
func TestEveryTableOfALedgerHoldsOneKindOfKey(t *testing.T) {
	l, err := Open(t.TempDir(), genesis, Options{NoSync: true, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	prev := genesis
	entry := uint64(0)
	for h := uint64(1); h <= 40; h++ {
		b, ids := testBlock(h, prev, 300)
		var writes []KV
		for range ids {
			v := KV{Key: make([]byte, 65), Value: make([]byte, 80)}
			v.Key[0] = 'v'
			rand.Read(v.Key[1:]) // a voter record: anywhere
			entry++
			i := KV{Key: binary.BigEndian.AppendUint64([]byte{'i'}, entry), Value: make([]byte, 145)}
			lf := KV{Key: binary.BigEndian.AppendUint64([]byte{'l'}, entry), Value: make([]byte, 32)}
			writes = append(writes, v, i, lf)
		}
		writes = append(writes, KV{Key: []byte("r-results"), Value: make([]byte, 100)}) // rewritten at every block
		if err := l.Commit(b, testCommit(b), ids, writes); err != nil {
			t.Fatal(err)
		}
		prev = b.Hash()
	}
	check := func(when string) {
		t.Helper()
		levels, err := l.db.SSTables()
		if err != nil {
			t.Fatal(err)
		}
		tables, kinds := 0, map[string]bool{}
		for level, tt := range levels {
			for _, table := range tt {
				tables++
				lo, hi := string(keyKind(table.Smallest.UserKey)), string(keyKind(table.Largest.UserKey))
				if lo != hi {
					t.Errorf("%s: table %s of level %d holds keys from %q to %q", when, table.FileNum, level, table.Smallest.UserKey, table.Largest.UserKey)
				}
				kinds[lo] = true
			}
		}
		// The test would tell nothing if the writes had not reached tables
		// of every kind.
		for _, k := range []string{"h/", "t/", "c/", "x/", "m/", "s/v", "s/i", "s/l", "s/r"} {
			if !kinds[k] {
				t.Fatalf("%s: no table of %q among %d tables", when, k, tables)
			}
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	check("after the flushes")
	if err := l.db.Compact(context.Background(), []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	check("after a compaction of everything")
}
