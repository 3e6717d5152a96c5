package app

import (
	"fmt"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
)

// A block costs what it touches: applying a block of casts to one ballot
// on a chain of 3,000 ballots (issue 10's figure). Run:
// go test ./node/app -run '^$' -bench ApplyBlockAmong -benchtime 20x
func BenchmarkApplyBlockAmong3000Ballots(b *testing.B) {
	f := newAppFixtureWith(b, "", 0)
	reg := ballottest.RegistrarKey(ballot.KeyBits2048)
	org := ballottest.OrganizerKey()
	for i := 0; i < 3000; i += 500 {
		for j := i; j < i+500; j++ {
			def := &ballot.Definition{ChainID: f.g.ChainID, GenesisHash: f.g.Hash(), Question: fmt.Sprintf("Q%d?", j),
				Choices: []string{"a", "b"}, Opens: 0, Closes: 1e13,
				Registrars: []ballot.Registrar{{Name: "r", Key: ballot.MarshalRegistrarKey(&reg.PublicKey)}}}
			def.Sign(org)
			if err := f.submit(b, &ballot.Tx{Definition: def}); err != nil {
				b.Fatal(err)
			}
		}
		f.commitNext(b)
	}
	f.defineBallot(b)
	voters := make([]*ballottest.Voter, 100)
	for i := range voters {
		voters[i] = f.e.NewVoter()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, v := range voters {
			if err := f.submit(b, &ballot.Tx{Cast: f.e.Cast(v, uint64(i+1), uint32(i%3))}); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		f.commitNext(b)
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms/block")
	}
}
