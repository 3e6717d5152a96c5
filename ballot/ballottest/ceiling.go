package ballottest

import (
	"fmt"
	"time"

	"github.com/cocorico/node/ballot"
)

// VerifyLoad is the work of BenchmarkCastVerifyBatch: a batch of casts,
// as encoded in blocks, decoded and checked by ballot.CheckBatch (one
// RSA-PSS token and one Ed25519 batch entry per cast). It is the unit of
// the crypto ceiling C that the verifying paths are measured against.
type VerifyLoad struct {
	rules ballot.Rules
	st    *ballot.MemState
	data  [][]byte
}

// NewVerifyLoad makes n casts of distinct voters for one election (n
// blind signatures: about a millisecond each).
func NewVerifyLoad(n int, seed uint64) *VerifyLoad {
	e := NewElection(Options{Seed: seed})
	st := ballot.NewMemState()
	b := ballot.NewBatch(st, e.Rules, 1, 1000)
	if err := b.Add(e.DefinitionTx()); err != nil {
		panic(err)
	}
	u, err := b.Finish()
	if err != nil {
		panic(err)
	}
	st.Apply(u)
	data := make([][]byte, n)
	for i := range data {
		data[i] = (&ballot.Tx{Cast: e.Cast(e.NewVoter(), 1, uint32(i%3))}).Encode()
	}
	return &VerifyLoad{rules: e.Rules, st: st, data: data}
}

// Len is the number of casts one Verify checks.
func (l *VerifyLoad) Len() int { return len(l.data) }

// Verify decodes and checks the batch once; every cast must pass.
func (l *VerifyLoad) Verify() error {
	txs := make([]*ballot.Tx, len(l.data))
	for i, d := range l.data {
		tx, err := ballot.DecodeTx(d, ballot.MaxTxBytes)
		if err != nil {
			return err
		}
		txs[i] = tx
	}
	_, errs := ballot.CheckBatch(l.rules, txs, l.data, l.st)
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("cast %d: %w", i, err)
		}
	}
	return nil
}

// CastCost verifies the load over and over on the calling goroutine (one
// core) for at least d of cost's time, and returns the time one cast took
// on average: what BenchmarkCastVerifyBatch -cpu 1 reports as ns/cast
// when cost is the wall clock. cost may be a CPU-time clock instead, which
// a machine busy with other work does not inflate.
func (l *VerifyLoad) CastCost(d time.Duration, cost func() time.Duration) (time.Duration, error) {
	start := cost()
	casts := 0
	for casts == 0 || cost()-start < d {
		if err := l.Verify(); err != nil {
			return 0, err
		}
		casts += len(l.data)
	}
	return (cost() - start) / time.Duration(casts), nil
}
