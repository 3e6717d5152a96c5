package ballot_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/consensus/canon"
)

var updateVectors = flag.Bool("update-vectors", false, "rewrite docs/vectors from fixed keys")

const vectorsDir = "../docs/vectors"

// matchVectorFile rewrites the vector file name of docs/vectors with what
// the code computes when -update-vectors is given, then fails unless the
// file holds exactly that.
func matchVectorFile[T any](t *testing.T, name string, computed T) {
	t.Helper()
	path := filepath.Join(vectorsDir, name)
	if *updateVectors {
		data, _ := json.MarshalIndent(computed, "", "  ")
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stored T
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored, computed) {
		t.Fatalf("the code no longer computes docs/vectors/%s (run with -update-vectors after a deliberate protocol change):\ngot  %+v\nwant %+v", name, computed, stored)
	}
}

// protocolVectors are byte strings an independent implementation can
// check itself against (docs/PROTOCOL.md).
type protocolVectors struct {
	CastTx          string `json:"cast_tx_hex"`
	CastID          string `json:"cast_id"`
	CastSignBytes   string `json:"cast_sign_bytes_hex"`
	TokenMessage    string `json:"token_message_hex"`
	DefinitionTx    string `json:"definition_tx_hex"`
	BallotID        string `json:"ballot_id"`
	HeaderCBOR      string `json:"header_cbor_hex"`
	BlockHash       string `json:"block_hash"`
	PrecommitSign   string `json:"precommit_sign_bytes_hex"`
	GenesisHash     string `json:"genesis_hash"`
	EmptyMerkleRoot string `json:"empty_merkle_root"`
	EmptyAppHash    string `json:"empty_app_hash"`
	ResultsAfter1   string `json:"results_after_block_1"`
	// The records list after block 1 (docs/PROTOCOL.md §14): the ballot
	// record, then the voter record, as state key and canonical value.
	RecordsAfter1     []vectorRecord `json:"records_after_block_1"`
	RecordsRootAfter1 string         `json:"records_root_after_block_1"`
	AppHashAfter1     string         `json:"app_hash_after_block_1"`
	// A volunteer's attestation of block 1 (docs/PROTOCOL.md §20), by the
	// key of seed 30: its sign bytes and the attestations-topic message.
	AttestationSign    string `json:"attestation_sign_bytes_hex"`
	AttestationMessage string `json:"attestation_message_hex"`
	// A Merkle tree (docs/PROTOCOL.md §5) of an odd number of leaves, 5
	// (the byte strings "leaf 0" … "leaf 4"), its root and the audit path
	// of each leaf: the tree's unbalanced right edge.
	Merkle5 merkleVector `json:"merkle_5_leaves"`
}

type merkleVector struct {
	Leaves []string          `json:"leaves_hex"`
	Root   string            `json:"root"`
	Proofs []consensus.Proof `json:"proofs"`
}

type vectorRecord struct {
	Key   string `json:"key_hex"`
	Value string `json:"value_hex"`
}

func vectorKey(t *testing.T) *rsa.PrivateKey {
	path := filepath.Join(vectorsDir, "registrar_key.pem")
	if data, err := os.ReadFile(path); err == nil {
		blk, _ := pem.Decode(data)
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return k.(*rsa.PrivateKey)
	}
	if !*updateVectors {
		t.Fatalf("%s missing: run with -update-vectors", path)
	}
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o644)
	return k
}

func seededKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, 32)
	seed[0] = b
	return ed25519.NewKeyFromSeed(seed)
}

func TestProtocolVectorsInDocsStillVerify(t *testing.T) {
	reg := vectorKey(t)
	var vals []consensus.Validator
	var vkeys []ed25519.PrivateKey
	for i := range 4 {
		k := seededKey(byte(i + 1))
		vkeys = append(vkeys, k)
		vals = append(vals, consensus.Validator{Name: "validator-" + string(rune('0'+i)), PubKey: k.Public().(ed25519.PublicKey)})
	}
	// Fixed parameters, not the defaults: the vectors must not move when a default does.
	params := consensus.Params{MaxBlockTxs: 20000, MaxBlockBytes: 12 << 20, MaxTxBytes: 8 << 10, TimeoutProposeMs: 1500,
		TimeoutProposeDeltaMs: 500, TimeoutVoteMs: 500, TimeoutVoteDeltaMs: 500, BlockIntervalMs: 250, HeartbeatMs: 10000, MaxClockDriftMs: 5000}
	app := consensus.AppParams{MaxCastsPerVoter: 16, RevoteIntervalMs: 2000,
		Organizers: []consensus.Organizer{{Name: "vector organizer", PubKey: seededKey(10).Public().(ed25519.PublicKey)}}}
	g := &consensus.Genesis{ChainID: "vectors", GenesisTime: time.UnixMilli(1_767_225_600_000).UTC(), Validators: vals, Params: params, App: app}

	rpath := filepath.Join(vectorsDir, "receipt.json")
	if *updateVectors {
		def := &ballot.Definition{ChainID: g.ChainID, GenesisHash: g.Hash(), Question: "Should the vectors be kept?", Choices: []string{"for", "against", "abstention"},
			Opens: 1_767_225_600_000, Closes: 1_767_312_000_000, Revote: true,
			Registrars: []ballot.Registrar{{Name: "vector registrar", URL: "https://registrar.example", Key: ballot.MarshalRegistrarKey(&reg.PublicKey)}}}
		def.Sign(seededKey(10))
		voter := seededKey(20)
		req, err := ballot.NewTokenRequest(ballottest.Seeded(1), &reg.PublicKey, def.ID(), voter.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ballot.BlindSign(reg, req.Blinded)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := req.Finalize(sig)
		if err != nil {
			t.Fatal(err)
		}
		c := &ballot.Cast{BallotID: def.ID(), Seq: 1, Choice: 0, TokenPrefix: tok.Prefix, Token: tok.Signature}
		c.Sign(g.Chain(), voter)
		other := &ballot.Tx{Definition: def}
		txs := [][]byte{other.Encode(), (&ballot.Tx{Cast: c}).Encode()}
		root, proofs := consensus.MerkleProofs(txs)
		h := consensus.Header{ChainID: g.ChainID, Height: 1, Time: 1_767_225_601_000, PrevHash: g.Hash(), TxRoot: root, TxCount: 2,
			AppHash: ballot.EmptyAppHash(), Proposer: 1}
		r := ballot.NewReceipt(def, c, h, proofs[1], ballottest.Commit(g.Chain(), vkeys, &h, 0))
		data, _ := json.MarshalIndent(r, "", "  ")
		os.WriteFile(rpath, append(data, '\n'), 0o644)
		os.WriteFile(filepath.Join(vectorsDir, "genesis.json"), g.JSON(), 0o644)
	}
	gdata, err := os.ReadFile(filepath.Join(vectorsDir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	gen, err := consensus.ParseGenesis(gdata)
	if err != nil {
		t.Fatal(err)
	}
	if gen.Hash() != g.Hash() {
		t.Fatal("docs/vectors/genesis.json is not the vectors' genesis")
	}
	rdata, err := os.ReadFile(rpath)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ballot.DecodeReceipt(rdata)
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Verify(gen); !v.Valid {
		t.Fatalf("the receipt in docs/vectors fails %v", v.Failed())
	}
	// The results after block 1 (the ballot, and the cast for choice 0):
	// what the header at height 2 carries as its app hash.
	after1 := ballot.Results{BallotID: r.BallotID, Counts: []uint64{1, 0, 0}, Casts: 1}
	records := []vectorRecord{
		{hex.EncodeToString(append([]byte("b"), r.BallotID[:]...)),
			hex.EncodeToString(canon.MustMarshal(ballot.BallotRecord{Definition: r.Ballot, Height: 1, Index: 0, Entry: 0}))},
		{hex.EncodeToString(append(append([]byte("v"), r.BallotID[:]...), r.Cast.Voter...)),
			hex.EncodeToString(canon.MustMarshal(ballot.VoterRecord{Seq: r.Cast.Seq, Choice: r.Cast.Choice, CastID: r.CastID,
				Height: 1, Casts: 1, Time: r.Header.Time, Entry: 1}))},
	}
	var recordLeaves []consensus.Hash
	for _, rec := range records {
		k, _ := hex.DecodeString(rec.Key)
		v, _ := hex.DecodeString(rec.Value)
		recordLeaves = append(recordLeaves, ballot.RecordLeaf(k, v))
	}
	recordsRoot := consensus.NewMerkleList(recordLeaves).Root()
	appHash1 := ballot.AppHashOf(consensus.NewMerkleList([]consensus.Hash{ballot.ResultsLeaf(&after1)}).Root(), recordsRoot)
	// The same block through the state transition gives the same app hash.
	rules := ballot.NewRules(gen)
	st := ballot.NewMemState()
	b := ballot.NewBatch(st, rules, 1, r.Header.Time)
	for _, tx := range [][]byte{(&ballot.Tx{Definition: r.Ballot}).Encode(), (&ballot.Tx{Cast: r.Cast}).Encode()} {
		c, err := ballot.CheckTx(rules, tx, ballot.MaxTxBytes, b)
		if err == nil {
			err = b.Add(c)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if u, err := b.Finish(); err != nil || u.AppHash != appHash1 {
		t.Fatalf("block 1 through the transition: app hash %v (%v), the vector's %s", u, err, appHash1.Short())
	}
	pc := consensus.VoteSignBytes(gen.Chain(), consensus.Precommit, r.Height, r.Commit.Round, r.Header.Hash())
	got := protocolVectors{
		CastTx:            hex.EncodeToString((&ballot.Tx{Cast: r.Cast}).Encode()),
		CastID:            r.CastID.String(),
		CastSignBytes:     hex.EncodeToString(r.Cast.SignBytes(gen.Chain())),
		TokenMessage:      hex.EncodeToString(ballot.TokenMessage(r.BallotID, r.Cast.Voter)),
		DefinitionTx:      hex.EncodeToString((&ballot.Tx{Definition: r.Ballot}).Encode()),
		BallotID:          r.BallotID.String(),
		HeaderCBOR:        hex.EncodeToString(r.Header.Encode()),
		BlockHash:         r.Header.Hash().String(),
		PrecommitSign:     hex.EncodeToString(pc),
		GenesisHash:       gen.Hash().String(),
		EmptyMerkleRoot:   consensus.MerkleRoot(nil).String(),
		EmptyAppHash:      ballot.EmptyAppHash().String(),
		ResultsAfter1:     hex.EncodeToString(canon.MustMarshal(&after1)),
		RecordsAfter1:     records,
		RecordsRootAfter1: recordsRoot.String(),
		AppHashAfter1:     appHash1.String(),
	}
	att := consensus.NewAttestation(gen.Chain(), r.Height, r.Header.Hash(), appHash1, seededKey(30))
	got.AttestationSign = hex.EncodeToString(att.SignBytes())
	got.AttestationMessage = hex.EncodeToString((&consensus.Witness{Attestation: att}).Encode())
	var leaves [][]byte
	for i := range 5 {
		leaves = append(leaves, []byte("leaf "+string(rune('0'+i))))
		got.Merkle5.Leaves = append(got.Merkle5.Leaves, hex.EncodeToString(leaves[i]))
	}
	root5, proofs5 := consensus.MerkleProofs(leaves)
	got.Merkle5.Root, got.Merkle5.Proofs = root5.String(), proofs5
	for i, p := range proofs5 {
		if err := p.Verify(consensus.LeafHash(leaves[i]), root5); err != nil {
			t.Fatalf("leaf %d of 5: %v", i, err)
		}
	}
	matchVectorFile(t, "vectors.json", got)
}
