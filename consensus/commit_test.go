package consensus

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

func signedCommit(g *Genesis, keys []ed25519.PrivateKey, signers []int, height uint64, block Hash) *Commit {
	var votes []*Vote
	for _, i := range signers {
		votes = append(votes, precommit(g, keys, i, height, 0, block))
	}
	c, err := NewCommit(votes)
	if err != nil {
		panic(err)
	}
	return c
}

func TestCommitOfAQuorumVerifies(t *testing.T) {
	g, keys := testChain(4)
	block := Sum([]byte("block"))
	for _, signers := range [][]int{{0, 1, 2}, {1, 2, 3}, {3, 0, 2}, {0, 1, 2, 3}} {
		c := signedCommit(g, keys, signers, 5, block)
		if err := c.Verify(g.Chain(), g.ValidatorSet(), 5, block); err != nil {
			t.Fatalf("signers %v: %v", signers, err)
		}
	}
}

func TestQuorumIsMoreThanTwoThirds(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: 5, 7: 5, 10: 7, 100: 67} {
		g, _ := testChain(n)
		if got := g.ValidatorSet().Quorum(); got != want {
			t.Errorf("n=%d: quorum %d, want %d", n, got, want)
		}
	}
}

func TestInvalidCommitsAreRejected(t *testing.T) {
	g, keys := testChain(4)
	vals := g.ValidatorSet()
	block := Sum([]byte("block"))
	cases := map[string]func() *Commit{
		"two thirds is not a quorum": func() *Commit { return signedCommit(g, keys, []int{0, 1}, 5, block) },
		"duplicate signer": func() *Commit {
			c := signedCommit(g, keys, []int{0, 1, 2}, 5, block)
			c.Signatures[2] = c.Signatures[1]
			return c
		},
		"unsorted signers": func() *Commit {
			c := signedCommit(g, keys, []int{0, 1, 2}, 5, block)
			c.Signatures[0], c.Signatures[1] = c.Signatures[1], c.Signatures[0]
			return c
		},
		"forged signature": func() *Commit {
			c := signedCommit(g, keys, []int{0, 1, 2}, 5, block)
			c.Signatures[1].Signature = append([]byte(nil), c.Signatures[1].Signature...)
			c.Signatures[1].Signature[7] ^= 1
			return c
		},
		"signature by another key": func() *Commit {
			c := signedCommit(g, keys, []int{0, 1, 2}, 5, block)
			c.Signatures[2].Validator = 3
			return c
		},
		"unknown validator index": func() *Commit {
			c := signedCommit(g, keys, []int{0, 1, 2}, 5, block)
			c.Signatures[2].Validator = 9
			return c
		},
		"other height": func() *Commit { return signedCommit(g, keys, []int{0, 1, 2}, 6, block) },
		"other block":  func() *Commit { return signedCommit(g, keys, []int{0, 1, 2}, 5, Sum([]byte("other"))) },
		"round changed after signing": func() *Commit {
			c := signedCommit(g, keys, []int{0, 1, 2}, 5, block)
			c.Round = 1
			return c
		},
		"more signatures than validators": func() *Commit {
			c := signedCommit(g, keys, []int{0, 1, 2, 3}, 5, block)
			c.Signatures = append(c.Signatures, c.Signatures[3])
			return c
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			if err := mk().Verify(g.Chain(), vals, 5, block); !errors.Is(err, ErrCommitInvalid) {
				t.Fatalf("got %v, want ErrCommitInvalid", err)
			}
		})
	}
}

func TestCommitFromAnotherChainIsRejected(t *testing.T) {
	g, keys := testChain(4)
	block := Sum([]byte("block"))
	c := signedCommit(g, keys, []int{0, 1, 2}, 5, block)
	if err := c.Verify(Chain{ID: g.ChainID, Genesis: Sum([]byte("a relaunch"))}, g.ValidatorSet(), 5, block); !errors.Is(err, ErrCommitInvalid) {
		t.Fatalf("got %v, want ErrCommitInvalid", err)
	}
}

func TestNewCommitRefusesMixedVotes(t *testing.T) {
	g, keys := testChain(4)
	a := precommit(g, keys, 0, 5, 0, Sum([]byte("a")))
	b := precommit(g, keys, 1, 5, 0, Sum([]byte("b")))
	if _, err := NewCommit([]*Vote{a, b}); err == nil {
		t.Fatal("commit of votes for two blocks was made")
	}
}

func TestCommitEncodingRoundTrips(t *testing.T) {
	g, keys := testChain(4)
	c := signedCommit(g, keys, []int{0, 2, 3}, 5, Sum([]byte("block")))
	d, err := DecodeCommit(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(g.Chain(), g.ValidatorSet(), 5, c.BlockHash); err != nil {
		t.Fatal(err)
	}
}
