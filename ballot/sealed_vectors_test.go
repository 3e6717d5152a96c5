package ballot_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cloudflare/circl/group"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/ballot/seal"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

// sealedVectors are the byte strings of a sealed ballot of 3 keykeepers,
// threshold 2, on the vectors' chain (docs/PROTOCOL.md §19), from fixed
// keys and a fixed random stream: the keykeepers' secrets, the definition,
// the three deals, the election key, a sealed cast of choice 1, the shares
// of keykeepers 0 and 2, the election secret, and the results before and
// after the count.
type sealedVectors struct {
	KeykeeperSignSeeds []string `json:"keykeeper_sign_seeds_hex"`
	KeykeeperEncPrivs  []string `json:"keykeeper_enc_privs_hex"`
	DefinitionTx       string   `json:"definition_tx_hex"`
	BallotID           string   `json:"ballot_id"`
	Info               string   `json:"sealed_info_hex"`
	DealTxs            []string `json:"deal_txs_hex"`
	Deal0SignBytes     string   `json:"deal_0_sign_bytes_hex"`
	ElectionKey        string   `json:"election_key_hex"`
	CastTx             string   `json:"cast_tx_hex"`
	Sealed             string   `json:"sealed_choice_hex"`
	ShareTxs           []string `json:"share_txs_hex"`
	Secret             string   `json:"election_secret_hex"`
	ResultsBefore      string   `json:"results_before_count_hex"`
	ResultsAfter       string   `json:"results_after_count_hex"`
	// The state a sealed ballot leaves (docs/PROTOCOL.md §14): the app
	// hash after each of the four blocks (definition, deals, cast,
	// shares), the cast's voter record (its sealed choice under key 7,
	// choice 0) and the keyring record after the count.
	AppHashes     []string     `json:"app_hash_after_blocks_1_to_4"`
	VoterRecord   vectorRecord `json:"voter_record_after_block_3"`
	KeyringRecord vectorRecord `json:"keyring_record_after_block_4"`
	// The dispute path (§19.2) on a fork of the chain after block 2:
	// keykeeper 1 complains against deal 0 (block 3 of the fork, before
	// keygen_closes) and dealer 0 answers with the share in clear (block 4
	// of the fork, before opens); the app hash after each of those two
	// blocks and the keyring record after the answer.
	Complaint          string       `json:"complaint_tx_hex"`
	ComplaintSignBytes string       `json:"complaint_sign_bytes_hex"`
	Answer             string       `json:"answer_tx_hex"`
	AnswerSignBytes    string       `json:"answer_sign_bytes_hex"`
	ForkAppHashes      []string     `json:"fork_app_hash_after_complaint_and_answer"`
	ForkKeyringRecord  vectorRecord `json:"fork_keyring_record_after_answer"`
}

func TestProtocolVectorsOfSealedBallotsStillVerify(t *testing.T) {
	reg := vectorKey(t)
	gdata, err := os.ReadFile(filepath.Join(vectorsDir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := consensus.ParseGenesis(gdata)
	if err != nil {
		t.Fatal(err)
	}
	rules, chain := ballot.NewRules(g), g.Chain()
	rng := ballottest.Seeded(19)
	var got sealedVectors
	def := &ballot.Definition{ChainID: g.ChainID, GenesisHash: g.Hash(), Question: "Sealed vectors?", Choices: []string{"for", "against", "abstention"},
		Opens: 1_767_225_660_000, Closes: 1_767_312_000_000, Revote: true, Tally: ballot.TallySealed, Threshold: 2, KeygenCloses: 1_767_225_630_000,
		Registrars: []ballot.Registrar{{Name: "vector registrar", URL: "https://registrar.example", Key: ballot.MarshalRegistrarKey(&reg.PublicKey)}}}
	var signs []ed25519.PrivateKey
	var privs [][]byte
	for i := range 3 {
		sign := seededKey(byte(30 + i))
		pub, priv, err := seal.NewKeyPair(rng)
		if err != nil {
			t.Fatal(err)
		}
		signs, privs = append(signs, sign), append(privs, priv)
		def.Keykeepers = append(def.Keykeepers, ballot.Keykeeper{Name: "keykeeper " + string(rune('A'+i)), Key: sign.Public().(ed25519.PublicKey), EncKey: pub})
		got.KeykeeperSignSeeds = append(got.KeykeeperSignSeeds, hex.EncodeToString(sign.Seed()))
		got.KeykeeperEncPrivs = append(got.KeykeeperEncPrivs, hex.EncodeToString(priv))
	}
	def.Sign(seededKey(10))
	b, err := def.Check(rules)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(st *ballot.MemState, height uint64, time int64, txs ...*ballot.Tx) string {
		t.Helper()
		batch := ballot.NewBatch(st, rules, height, time)
		for _, tx := range txs {
			c, err := ballot.CheckTx(rules, tx.Encode(), ballot.MaxTxBytes, st)
			if err == nil {
				err = batch.Add(c)
			}
			if err != nil {
				t.Fatalf("block %d: %v", height, err)
			}
		}
		u, err := batch.Finish()
		if err != nil {
			t.Fatal(err)
		}
		st.Apply(u)
		return u.AppHash.String()
	}
	st := ballot.NewMemState()
	block := func(height uint64, time int64, txs ...*ballot.Tx) {
		t.Helper()
		got.AppHashes = append(got.AppHashes, apply(st, height, time, txs...))
	}
	defTx := &ballot.Tx{Definition: def}
	block(1, 1_767_225_601_000, defTx)
	got.DefinitionTx, got.BallotID = hex.EncodeToString(defTx.Encode()), b.ID.String()
	got.Info = hex.EncodeToString(ballot.SealedInfo(chain, b.ID))
	var deals []*ballot.Tx
	for i := range 3 {
		d, err := ballot.NewDeal(rng, chain, b, i, signs[i])
		if err != nil {
			t.Fatal(err)
		}
		deals = append(deals, &ballot.Tx{Deal: d})
		got.DealTxs = append(got.DealTxs, hex.EncodeToString(deals[i].Encode()))
	}
	got.Deal0SignBytes = hex.EncodeToString(deals[0].Deal.SignBytes(chain))
	block(2, 1_767_225_602_000, deals...)
	k, _, _ := st.Keyring(b.ID)
	key, err := k.ElectionKey(chain, b)
	if err != nil {
		t.Fatal(err)
	}
	got.ElectionKey = hex.EncodeToString(key)

	fork := ballot.NewMemState()
	apply(fork, 1, 1_767_225_601_000, defTx)
	apply(fork, 2, 1_767_225_602_000, deals...)
	complaint := &ballot.Complaint{BallotID: b.ID, Keykeeper: 1, Against: 0}
	complaint.Sign(chain, signs[1])
	got.Complaint, got.ComplaintSignBytes = hex.EncodeToString((&ballot.Tx{Complaint: complaint}).Encode()), hex.EncodeToString(complaint.SignBytes(chain))
	got.ForkAppHashes = append(got.ForkAppHashes, apply(fork, 3, 1_767_225_603_000, &ballot.Tx{Complaint: complaint}))
	if fk, _, _ := fork.Keyring(b.ID); !slices.Equal(fk.Qualified(), []int{1, 2}) {
		t.Fatalf("qualified after the complaint %v, want [1 2]: deal 0 waits for its answer", fk.Qualified())
	}
	// The answer is the share keykeeper 1 decrypts from deal 0.
	ctx := ballot.DealContext(chain, b.ID, 0)
	com, err := deals[0].Deal.Dealing().Check(2, 3, ctx)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := seal.PrivateKey(privs[1])
	if err != nil {
		t.Fatal(err)
	}
	x, err := seal.OpenShare(deals[0].Deal.Dealing(), com, 2, sk, ctx)
	if err != nil {
		t.Fatal(err)
	}
	answer := &ballot.Answer{BallotID: b.ID, Keykeeper: 0, To: 1, Value: seal.AddShares([]group.Scalar{x})}
	answer.Sign(chain, signs[0])
	got.Answer, got.AnswerSignBytes = hex.EncodeToString((&ballot.Tx{Answer: answer}).Encode()), hex.EncodeToString(answer.SignBytes(chain))
	got.ForkAppHashes = append(got.ForkAppHashes, apply(fork, 4, 1_767_225_640_000, &ballot.Tx{Answer: answer}))
	fk, _, _ := fork.Keyring(b.ID)
	if !slices.Equal(fk.Qualified(), []int{0, 1, 2}) {
		t.Fatalf("qualified after the answer %v, want [0 1 2]", fk.Qualified())
	}
	if forkKey, err := fk.ElectionKey(chain, b); err != nil || !bytes.Equal(forkKey, key) {
		t.Fatalf("the fork's election key %x (%v), want the chain's %x: an answered complaint changes no share", forkKey, err, key)
	}
	got.ForkKeyringRecord = vectorRecord{hex.EncodeToString(append([]byte("k"), b.ID[:]...)), hex.EncodeToString(canon.MustMarshal(fk))}

	voter := seededKey(20)
	req, err := ballot.NewTokenRequest(ballottest.Seeded(2), &reg.PublicKey, b.ID, voter.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := ballot.BlindSign(reg, req.Blinded)
	tok, err := req.Finalize(sig)
	if err != nil {
		t.Fatal(err)
	}
	c := &ballot.Cast{BallotID: b.ID, Voter: voter.Public().(ed25519.PublicKey), Seq: 1, TokenPrefix: tok.Prefix, Token: tok.Signature}
	if err := c.Seal(rng, chain, key, 1); err != nil {
		t.Fatal(err)
	}
	c.Sign(chain, voter)
	castTx := &ballot.Tx{Cast: c}
	block(3, def.Opens, castTx)
	got.CastTx, got.Sealed = hex.EncodeToString(castTx.Encode()), hex.EncodeToString(c.Sealed)
	before, _, _ := st.Results(b.ID)
	got.ResultsBefore = hex.EncodeToString(canon.MustMarshal(&before))
	rec, found, err := st.Voter(b.ID, c.Key())
	if err != nil || !found || !bytes.Equal(rec.Sealed, c.Sealed) || rec.Choice != 0 {
		t.Fatalf("the sealed cast's voter record %+v (%v, %v), want its sealed choice and choice 0", rec, found, err)
	}
	got.VoterRecord = vectorRecord{hex.EncodeToString(append(append([]byte("v"), b.ID[:]...), c.Voter...)), hex.EncodeToString(canon.MustMarshal(rec))}

	var shares []*ballot.Tx
	for _, j := range []int{0, 2} {
		s, err := k.NewShare(chain, b, j, privs[j], signs[j])
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, &ballot.Tx{Share: s})
		got.ShareTxs = append(got.ShareTxs, hex.EncodeToString(shares[len(shares)-1].Encode()))
	}
	block(4, def.Closes, shares...)
	after, _, _ := st.Results(b.ID)
	if after.Sealed || after.Counts[1] != 1 {
		t.Fatalf("results after the count %+v, want choice 1 counted", after)
	}
	got.ResultsAfter = hex.EncodeToString(canon.MustMarshal(&after))
	k, _, _ = st.Keyring(b.ID)
	got.Secret = hex.EncodeToString(k.Secret)
	got.KeyringRecord = vectorRecord{hex.EncodeToString(append([]byte("k"), b.ID[:]...)), hex.EncodeToString(canon.MustMarshal(k))}

	matchVectorFile(t, "sealed.json", got)
}
