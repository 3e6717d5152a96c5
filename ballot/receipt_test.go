package ballot_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

// receiptFixture makes a 4-validator chain with the ballot in block 1 and
// five casts in block 2, and returns the receipt of the third cast.
func receiptFixture(t *testing.T) (*consensus.Genesis, *ballot.Receipt) {
	t.Helper()
	g, keys := ballottest.Validators("receipt-chain", 4, 1)
	e := ballottest.NewElection(ballottest.Options{Genesis: g, Opens: 1000, Closes: 9000, Seed: 40})
	var casts []*ballot.Cast
	var txs [][]byte
	for i := range 5 {
		c := e.Cast(e.NewVoter(), 1, uint32(i%3))
		casts = append(casts, c)
		txs = append(txs, (&ballot.Tx{Cast: c}).Encode())
	}
	root, proofs := consensus.MerkleProofs(txs)
	h := consensus.Header{ChainID: g.ChainID, Height: 2, Time: 2000, PrevHash: consensus.Sum([]byte("block 1")),
		TxRoot: root, TxCount: uint32(len(txs)), Proposer: 2}
	commit := ballottest.Commit(g.Chain(), keys, &h, 0)
	r := ballot.NewReceipt(e.Def, casts[2], h, proofs[2], commit)
	// Through JSON, as a voter stores it.
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ballot.DecodeReceipt(data)
	if err != nil {
		t.Fatal(err)
	}
	return g, back
}

func TestReceiptVerifiesOfflineWithTheGenesisAlone(t *testing.T) {
	g, r := receiptFixture(t)
	v := r.Verify(g)
	if !v.Valid {
		t.Fatalf("valid receipt fails %v: %+v", v.Failed(), v.Checks)
	}
	if len(v.Checks) != 9 {
		t.Fatalf("%d checks, want 9", len(v.Checks))
	}
}

// Every field of a receipt is covered: tampering with any makes a named
// check fail.
func TestTamperedReceiptFailsTheCheckThatNamesIt(t *testing.T) {
	cases := map[string]struct {
		tamper func(*ballot.Receipt)
		fails  string
	}{
		"version":             {func(r *ballot.Receipt) { r.Version = 2 }, ballot.CheckVersion},
		"chain id":            {func(r *ballot.Receipt) { r.ChainID = "other" }, ballot.CheckChain},
		"ballot id":           {func(r *ballot.Receipt) { r.BallotID[0] ^= 1 }, ballot.CheckBallot},
		"ballot question":     {func(r *ballot.Receipt) { r.Ballot.Question = "Another?" }, ballot.CheckBallot},
		"ballot missing":      {func(r *ballot.Receipt) { r.Ballot = nil }, ballot.CheckBallot},
		"cast choice":         {func(r *ballot.Receipt) { r.Cast.Choice = (r.Cast.Choice + 1) % 3 }, ballot.CheckSignature},
		"cast seq":            {func(r *ballot.Receipt) { r.Cast.Seq = 7 }, ballot.CheckCast},
		"cast token":          {func(r *ballot.Receipt) { r.Cast.Token[9] ^= 1 }, ballot.CheckToken},
		"cast prefix":         {func(r *ballot.Receipt) { r.Cast.TokenPrefix[0] ^= 1 }, ballot.CheckToken},
		"cast signature":      {func(r *ballot.Receipt) { r.Cast.Signature[0] ^= 1 }, ballot.CheckSignature},
		"cast voter key":      {func(r *ballot.Receipt) { r.Cast.Voter[0] ^= 1 }, ballot.CheckToken},
		"cast id":             {func(r *ballot.Receipt) { r.CastID[31] ^= 1 }, ballot.CheckCast},
		"cast missing":        {func(r *ballot.Receipt) { r.Cast = nil }, ballot.CheckCast},
		"height":              {func(r *ballot.Receipt) { r.Height = 3 }, ballot.CheckCommit},
		"header time":         {func(r *ballot.Receipt) { r.Header.Time = 2001 }, ballot.CheckCommit},
		"header out of hours": {func(r *ballot.Receipt) { r.Header.Time = 9000 }, ballot.CheckBlockTime},
		"header chain":        {func(r *ballot.Receipt) { r.Header.ChainID = "other" }, ballot.CheckChain},
		"header tx root":      {func(r *ballot.Receipt) { r.Header.TxRoot[0] ^= 1 }, ballot.CheckInclusion},
		"header tx count":     {func(r *ballot.Receipt) { r.Header.TxCount = 6 }, ballot.CheckInclusion},
		"header app hash":     {func(r *ballot.Receipt) { r.Header.AppHash[0] ^= 1 }, ballot.CheckCommit},
		"header prev hash":    {func(r *ballot.Receipt) { r.Header.PrevHash[0] ^= 1 }, ballot.CheckCommit},
		"header proposer":     {func(r *ballot.Receipt) { r.Header.Proposer = 1 }, ballot.CheckCommit},
		"proof index":         {func(r *ballot.Receipt) { r.Proof.Index = 3 }, ballot.CheckInclusion},
		"proof total":         {func(r *ballot.Receipt) { r.Proof.Total = 4 }, ballot.CheckInclusion},
		"proof path":          {func(r *ballot.Receipt) { r.Proof.Path[1][0] ^= 1 }, ballot.CheckInclusion},
		"commit signature":    {func(r *ballot.Receipt) { r.Commit.Signatures[0].Signature[0] ^= 1 }, ballot.CheckCommit},
		"commit short":        {func(r *ballot.Receipt) { r.Commit.Signatures = r.Commit.Signatures[:2] }, ballot.CheckCommit},
		"commit round":        {func(r *ballot.Receipt) { r.Commit.Round = 1 }, ballot.CheckCommit},
		"commit block":        {func(r *ballot.Receipt) { r.Commit.BlockHash[0] ^= 1 }, ballot.CheckCommit},
		"commit missing":      {func(r *ballot.Receipt) { r.Commit = nil }, ballot.CheckCommit},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g, r := receiptFixture(t)
			tc.tamper(r)
			v := r.Verify(g)
			if v.Valid {
				t.Fatal("tampered receipt is valid")
			}
			if !slices.Contains(v.Failed(), tc.fails) {
				t.Fatalf("failed checks %v, want %q among them", v.Failed(), tc.fails)
			}
		})
	}
}

func TestReceiptAgainstAnotherGenesisFails(t *testing.T) {
	_, r := receiptFixture(t)
	other, _ := ballottest.Validators("receipt-chain", 4, 2) // same chain id, other validators
	v := r.Verify(other)
	if v.Valid || !slices.Contains(v.Failed(), ballot.CheckCommit) {
		t.Fatalf("receipt verified against validators that never signed it: %v", v.Failed())
	}
}

// A chain relaunched with the same name, keys and parameters but another
// genesis time is another chain: the old chain's receipts fail there.
func TestReceiptFromARelaunchedChainWithTheSameNameFails(t *testing.T) {
	g, r := receiptFixture(t)
	relaunch := *g
	relaunch.GenesisTime = relaunch.GenesisTime.Add(time.Hour)
	v := r.Verify(&relaunch)
	for _, check := range []string{ballot.CheckChain, ballot.CheckBallot, ballot.CheckSignature, ballot.CheckCommit} {
		if !slices.Contains(v.Failed(), check) {
			t.Errorf("check %q holds on the relaunched chain (failed: %v)", check, v.Failed())
		}
	}
}

func TestReceiptJSONIsReadStrictly(t *testing.T) {
	_, r := receiptFixture(t)
	data, _ := json.Marshal(r)
	cases := map[string][]byte{
		"unknown field":  []byte(strings.Replace(string(data), `"version"`, `"extra":1,"version"`, 1)),
		"trailing data":  append(append([]byte(nil), data...), []byte(" {}")...),
		"truncated":      data[:len(data)/2],
		"too large":      make([]byte, ballot.MaxReceiptBytes+1),
		"bad hash digit": []byte(strings.Replace(string(data), `"cast_id":"`, `"cast_id":"zz`, 1)),
	}
	for name, d := range cases {
		if _, err := ballot.DecodeReceipt(d); !errors.Is(err, ballot.ErrMalformed) && !errors.Is(err, ballot.ErrTooLarge) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// TestReceiptWithADuplicateKeyIsRefused: with "choice" twice, encoding/json
// reads the last and another reader the first; such a receipt means two
// things and is refused, while the same receipt with the key once reads.
func TestReceiptWithADuplicateKeyIsRefused(t *testing.T) {
	_, r := receiptFixture(t)
	if r.Cast.Choice != 2 {
		t.Fatalf("fixture choice %d, want 2", r.Cast.Choice)
	}
	data, _ := json.Marshal(r)
	if _, err := ballot.DecodeReceipt(data); err != nil {
		t.Fatalf("the receipt itself: %v", err)
	}
	twice := strings.Replace(string(data), `"choice":2`, `"choice":0,"choice":2`, 1)
	if twice == string(data) {
		t.Fatal("no choice in the receipt's JSON")
	}
	if _, err := ballot.DecodeReceipt([]byte(twice)); !errors.Is(err, ballot.ErrMalformed) {
		t.Fatalf("receipt with choice 0 then 2: got %v, want ErrMalformed", err)
	}
}
