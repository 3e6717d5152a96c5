package store

import (
	"testing"

	"github.com/golang/snappy"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
)

// The ledger's tables are written without compression because a block of
// casts shrinks by less than the 12 % Pebble's default profile (Snappy)
// requires to keep a block compressed: Snappy's work was spent on every
// block for nothing. Should casts become compressible (their encoding
// changed), this fails, and compression is worth measuring again.
func TestABlockOfCastsShrinksTooLittleForPebbleToKeepItCompressed(t *testing.T) {
	e := ballottest.NewElection(ballottest.Options{})
	var block []byte
	for len(block) < 32<<10 { // Pebble's data blocks are 4 KiB and more
		c := e.Cast(e.NewVoter(), 1, 1)
		block = append(block, (&ballot.Tx{Cast: c}).Encode()...)
	}
	shrink := 100 * (1 - float64(len(snappy.Encode(nil, block)))/float64(len(block)))
	t.Logf("a block of casts shrinks by %.1f %% with Snappy", shrink)
	if shrink >= 12 {
		t.Fatalf("a block of casts shrinks by %.1f %%: Pebble would keep it compressed, measure compression again", shrink)
	}
}
