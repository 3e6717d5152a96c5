package ballot_test

import (
	"crypto/sha256"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// docs/PROTOCOL.md §14: with no ballot, the app hash is over the empty array.
func TestAppHashOfNoBallotIsOverTheEmptyArray(t *testing.T) {
	want := sha256.Sum256(append([]byte(ballot.DomainResults), 0x80))
	if ballot.AppHash(nil) != consensus.Hash(want) || ballot.AppHash([]ballot.Results{}) != consensus.Hash(want) {
		t.Fatal("the app hash of no ballot is not SHA-256(domain ‖ 0x80)")
	}
}
