package seal_test

import (
	"errors"
	mrand "math/rand/v2"
	"testing"

	"github.com/cloudflare/circl/group"

	"github.com/cocorico/node/ballot/seal"
)

func rng(seed byte) *mrand.ChaCha8 { return mrand.NewChaCha8([32]byte{seed}) }

func TestSealedChoiceOpensOnlyInItsOwnCast(t *testing.T) {
	pub, priv, err := seal.NewKeyPair(rng(1))
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := seal.PrivateKey(priv)
	ctx := seal.Context{Info: []byte("cocorico/v1/sealed test"), Voter: make([]byte, 32), Seq: 1}
	s, err := seal.SealChoice(rng(2), pub, ctx, 7)
	if err != nil || len(s) != seal.SealedSize {
		t.Fatalf("seal: %d bytes, %v", len(s), err)
	}
	if err := seal.VerifySealed(s, ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := seal.OpenChoice(sk, s, ctx); err != nil || c != 7 {
		t.Fatalf("open: %d, %v", c, err)
	}
	other := ctx
	other.Voter = append([]byte{1}, ctx.Voter[1:]...)
	if err := seal.VerifySealed(s, other); !errors.Is(err, seal.ErrProof) {
		t.Fatalf("proof under another voter key: %v", err)
	}
	if _, err := seal.OpenChoice(sk, s, other); !errors.Is(err, seal.ErrDecrypt) {
		t.Fatalf("decrypt under another voter key: %v", err)
	}
}

func TestThresholdOfDealsRecoversTheKeyAndFewerDoNot(t *testing.T) {
	const n, th = 5, 3
	pubs, privs := make([][]byte, n), make([][]byte, n)
	for i := range n {
		pubs[i], privs[i], _ = seal.NewKeyPair(rng(byte(10 + i)))
	}
	info := []byte("cocorico/v1/sealed test")
	var coms []seal.Commitments
	var deals []*seal.Dealing
	for i := range n {
		d, err := seal.Deal(rng(byte(20+i)), th, pubs, seal.DealContext{Info: info, Dealer: i + 1})
		if err != nil {
			t.Fatal(err)
		}
		c, err := d.Check(th, n, seal.DealContext{Info: info, Dealer: i + 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Check(th, n, seal.DealContext{Info: info, Dealer: i + 2}); !errors.Is(err, seal.ErrProof) {
			t.Fatalf("a deal's proof under another dealer's number: %v", err)
		}
		coms, deals = append(coms, c), append(deals, d)
	}
	joint := seal.Combine(coms)
	shares := map[int][]byte{}
	for j := 1; j <= n; j++ {
		sk, _ := seal.PrivateKey(privs[j-1])
		var parts []group.Scalar
		for i, d := range deals {
			x, err := seal.OpenShare(d, coms[i], j, sk, seal.DealContext{Info: info, Dealer: i + 1})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, x)
		}
		shares[j] = seal.AddShares(parts)
		if err := joint.CheckShare(j, shares[j]); err != nil {
			t.Fatalf("share %d: %v", j, err)
		}
	}
	if err := joint.CheckShare(1, shares[2]); !errors.Is(err, seal.ErrShare) {
		t.Fatalf("keykeeper 2's share as keykeeper 1's: %v", err)
	}
	if _, _, err := joint.Recover(map[int][]byte{2: shares[2], 5: shares[5]}); err == nil {
		t.Fatal("recovered from 2 shares")
	}
	sk, _, err := joint.Recover(map[int][]byte{1: shares[1], 3: shares[3], 4: shares[4]})
	if err != nil {
		t.Fatal(err)
	}
	ctx := seal.Context{Info: info, Voter: []byte("v"), Seq: 2}
	s, _ := seal.SealChoice(rng(3), joint.Key(), ctx, 2)
	if c, err := seal.OpenChoice(sk, s, ctx); err != nil || c != 2 {
		t.Fatalf("open with the recovered secret: %d, %v", c, err)
	}
}

// BenchmarkOpenChoice is the count's cost per cast on one core.
func BenchmarkOpenChoice(b *testing.B) {
	pub, priv, _ := seal.NewKeyPair(rng(1))
	sk, _ := seal.PrivateKey(priv)
	ctx := seal.Context{Info: []byte("cocorico/v1/sealed test"), Voter: make([]byte, 32), Seq: 1}
	s, _ := seal.SealChoice(rng(2), pub, ctx, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seal.OpenChoice(sk, s, ctx); err != nil {
			b.Fatal(err)
		}
	}
}
