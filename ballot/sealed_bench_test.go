package ballot_test

import (
	"crypto/ed25519"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

// sealedElection is a sealed ballot of 5 keykeepers, threshold 3, whose
// key generation is final in st (every keykeeper dealt).
func sealedElection(tb testing.TB, seed uint64) (*ballottest.Election, *ballot.MemState, []byte) {
	tb.Helper()
	e := ballottest.NewElection(ballottest.Options{Seed: seed, Keykeepers: 5, Threshold: 3, Opens: 2000, Closes: 1e12, Revote: true})
	st := ballot.NewMemState()
	applyBlock(tb, st, 1, 1000, e.DefinitionTx())
	var deals []*ballot.Checked
	for i := range 5 {
		d := (&ballot.Tx{Deal: e.Deal(i)})
		deals = append(deals, &ballot.Checked{ID: d.ID(), Bytes: d.Encode(), Deal: d.Deal})
	}
	applyBlock(tb, st, 2, 1001, deals...)
	k, _, _ := st.Keyring(e.Ballot.ID)
	key, err := k.ElectionKey(e.Rules.Chain, e.Ballot)
	if err != nil {
		tb.Fatal(err)
	}
	return e, st, key
}

// BenchmarkSealedCastVerify compares the stateless check of an open cast
// with a sealed one's (the extra: a Schnorr proof verification, two P-256
// scalar multiplications), and reports the bytes a sealed choice adds.
func BenchmarkSealedCastVerify(b *testing.B) {
	e, st, key := sealedElection(b, 70)
	open := ballottest.NewElection(ballottest.Options{Seed: 71})
	applyBlock(b, st, 3, 3000, open.DefinitionTx())
	for _, kind := range []string{"open", "sealed"} {
		b.Run(kind, func(b *testing.B) {
			casts := make([][]byte, 16)
			for i := range casts {
				c := open.Cast(open.NewVoter(), 1, uint32(i%3))
				if kind == "sealed" {
					c = e.SealedCast(e.NewVoter(), 1, uint32(i%3), key)
				}
				casts[i] = (&ballot.Tx{Cast: c}).Encode()
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := ballot.CheckTx(e.Rules, casts[i%len(casts)], ballot.MaxTxBytes, st); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(len(casts[0])), "tx-bytes")
		})
	}
}

// BenchmarkSealChoice is what a voter's client adds to a cast: the HPKE
// encryption to the election key and the proof of knowledge.
func BenchmarkSealChoice(b *testing.B) {
	e, _, key := sealedElection(b, 72)
	v := e.NewVoter()
	b.ReportAllocs()
	for b.Loop() {
		c := &ballot.Cast{BallotID: e.Ballot.ID, Voter: v.Key.Public().(ed25519.PublicKey), Seq: 1}
		if err := c.Seal(ballottest.Seeded(1), e.Rules.Chain, key, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func allCores(n int, fn func(i int)) {
	w := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for k := range w {
		wg.Go(func() {
			for i := k * n / w; i < (k+1)*n/w; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// BenchmarkSealedCount measures the count of a sealed ballot of n voter
// keys: the block whose share is the third recovers the secret, decrypts
// every latest cast on all cores and tallies. Extrapolate to 10^6 casts
// from the per-cast figure.
func BenchmarkSealedCount(b *testing.B) {
	const n = 20_000
	e, st, key := sealedElection(b, 73)
	u := &ballot.Update{Height: 3, Voters: map[ballot.VoterSlot]ballot.VoterRecord{}, Results: map[consensus.Hash]*ballot.Results{}}
	rng := ballottest.Seeded(74)
	for i := range n {
		seed := make([]byte, ed25519.SeedSize)
		rng.Read(seed)
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		c := &ballot.Cast{BallotID: e.Ballot.ID, Voter: pub, Seq: 1}
		if err := c.Seal(rng, e.Rules.Chain, key, uint32(i%3)); err != nil {
			b.Fatal(err)
		}
		u.Voters[ballot.VoterSlot{Ballot: e.Ballot.ID, Voter: c.Key()}] = ballot.VoterRecord{Seq: 1, Sealed: c.Sealed, Casts: 1}
	}
	u.Results[e.Ballot.ID] = &ballot.Results{BallotID: e.Ballot.ID, Casts: n, Turnout: n, Sealed: true}
	st.Apply(u)
	k, _, _ := st.Keyring(e.Ballot.ID)
	var shares []*ballot.Checked
	for j := range 3 {
		s, err := k.NewShare(e.Rules.Chain, e.Ballot, j, e.Keykeepers[j].EncPriv, e.Keykeepers[j].Sign)
		if err != nil {
			b.Fatal(err)
		}
		tx := &ballot.Tx{Share: s}
		shares = append(shares, &ballot.Checked{ID: tx.ID(), Bytes: tx.Encode(), Share: s})
	}
	b.ReportAllocs()
	var took, cpu time.Duration
	runs := 0
	for b.Loop() {
		start, cpu0 := time.Now(), cpuTime()
		batch := ballot.NewBatch(st, e.Rules, 4, 1e12)
		batch.SetParallel(allCores)
		for _, s := range shares {
			if err := batch.Add(s); err != nil {
				b.Fatal(err)
			}
		}
		up, err := batch.Finish()
		if err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		cpu += cpuTime() - cpu0
		runs++
		if r := up.Results[e.Ballot.ID]; r.Sealed || r.Counts[0]+r.Counts[1]+r.Counts[2] != n {
			b.Fatalf("count %+v", r)
		}
	}
	per := took.Seconds() / float64(runs) / n
	b.ReportMetric(per*1e6, "µs/cast")
	b.ReportMetric(per*1e6, "s/1e6casts")
	// The CPU time the process spent, whatever else the machine runs: the
	// count's cost on an idle machine is this divided by its cores.
	b.ReportMetric(cpu.Seconds()/float64(runs)/n*1e6, "cpu-µs/cast")
}

// cpuTime returns the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
