package api

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// StatusView is the answer of GET /v1/status.
type StatusView struct {
	ChainID       string          `json:"chain_id"`
	GenesisHash   consensus.Hash  `json:"genesis_hash"`
	NodeID        string          `json:"node_id"`
	Role          string          `json:"role"`
	Height        uint64          `json:"height"`
	LastBlockHash consensus.Hash  `json:"last_block_hash"`
	LastBlockTime time.Time       `json:"last_block_time"`
	Validators    []ValidatorView `json:"validators"`
	Peers         int             `json:"peers"`
	Behind        uint64          `json:"behind"`
	Mempool       int             `json:"mempool"`
	Version       string          `json:"version"`
	// SyncedBlocksPerSec and SyncedCastsPerSec are the sync rates of the
	// last few seconds: every block's commit and every cast re-verified.
	SyncedBlocksPerSec float64 `json:"synced_blocks_per_sec"`
	SyncedCastsPerSec  float64 `json:"synced_casts_per_sec"`
	// LedgerBase, VerifiedFrom and Snapshots: see NodeInfo (state sync).
	LedgerBase   uint64   `json:"ledger_base"`
	VerifiedFrom uint64   `json:"verified_from"`
	Snapshots    []uint64 `json:"snapshots"`
	// Attestations is the number of distinct volunteer nodes that
	// attested one of the last RecentAttestationHeights blocks; Alarms
	// the number of alarms this node has seen.
	Attestations int `json:"attestations"`
	Alarms       int `json:"alarms"`
}

// ValidatorView names a validator.
type ValidatorView struct {
	Index  int    `json:"index"`
	Name   string `json:"name"`
	PubKey []byte `json:"pub_key"`
}

// Ballot statuses (docs/API.md §Ballots). Upcoming, open and closed follow
// the node's clock: a ballot is "closed" at its closing time, not at the
// next block. An open-tally ballot is "tallied" once a final block's time
// is past its closing (no later block can carry a cast for it: block times
// only grow), so its counts are final; "closed" is also the state of a
// sealed ballot waiting for its keykeepers, "tallied" once they counted it.
const (
	StatusUpcoming = "upcoming"
	StatusOpen     = "open"
	StatusClosed   = "closed"
	StatusTallied  = "tallied"
)

// BallotStatus returns a ballot's status when the node's clock reads now
// and the last final block's time is lastBlock (both Unix ms); counted
// says whether a sealed ballot's keykeepers counted it.
func BallotStatus(d *ballot.Definition, now, lastBlock int64, counted bool) string {
	switch {
	case now < d.Opens:
		return StatusUpcoming
	case now < d.Closes:
		return StatusOpen
	case d.Tally == ballot.TallyOpen && lastBlock >= d.Closes, counted:
		return StatusTallied
	}
	return StatusClosed
}

// BallotView is a ballot in GET /v1/ballots and /v1/ballots/{id}.
type BallotView struct {
	BallotID consensus.Hash `json:"ballot_id"`
	// Index is the ballot's place in creation order (0 for the first).
	Index  int    `json:"index"`
	Status string `json:"status"`
	// Height is the block that defined the ballot.
	Height   uint64    `json:"height"`
	Question string    `json:"question"`
	Choices  []string  `json:"choices"`
	OpensAt  time.Time `json:"opens_at"`
	ClosesAt time.Time `json:"closes_at"`
	Tally    string    `json:"tally"`
	Revote   bool      `json:"revote"`
	// Definition is the signed definition itself: its transaction hash is
	// BallotID, so a client can check it needs trust no node.
	Definition *ballot.Definition `json:"definition"`
}

// BallotsView is the answer of GET /v1/ballots: a page of ballots,
// newest first.
type BallotsView struct {
	Ballots []BallotView `json:"ballots"`
	// Total is the number of ballots on the chain.
	Total int `json:"total"`
	// NextBefore, when more ballots are older than this page, is the
	// ?before= of the next page.
	NextBefore *int `json:"next_before,omitempty"`
}

// ChoiceCount is one line of results.
type ChoiceCount struct {
	Label string `json:"label"`
	Count uint64 `json:"count"`
}

// CastCounts counts a ballot's casts.
type CastCounts struct {
	// Final casts are in final blocks, replaced ones included.
	Final uint64 `json:"final"`
	// Counted are the voter keys whose latest cast counts.
	Counted uint64 `json:"counted"`
	// Replaced are final casts a later cast of the same key replaced.
	Replaced uint64 `json:"replaced"`
	// Pending casts wait in this node's mempool.
	Pending int `json:"pending"`
}

// ResultsView is the answer of GET /v1/ballots/{id}/results.
type ResultsView struct {
	BallotID consensus.Hash `json:"ballot_id"`
	Height   uint64         `json:"height"`
	Status   string         `json:"status"`
	Choices  []ChoiceCount  `json:"choices"`
	// Sealed: a sealed ballot not counted yet ("sealed until closing"):
	// Choices is empty and only the casts and turnout are known.
	Sealed bool       `json:"sealed,omitempty"`
	Casts  CastCounts `json:"casts"`
	// Results are the results as the chain commits to them
	// (docs/PROTOCOL.md §14); Index is the ballot's leaf in the results
	// list and Proof its inclusion proof: SHA-256("cocorico/v2/state" ‖
	// the root the proof leads to ‖ RecordsRoot) is AppHash, which the
	// header at Height+1 carries, signed by the validators. A client
	// checks these results against that header without trusting this node.
	Results     ballot.Results  `json:"results"`
	Index       int             `json:"index"`
	Proof       consensus.Proof `json:"proof"`
	RecordsRoot consensus.Hash  `json:"records_root"`
	AppHash     consensus.Hash  `json:"app_hash"`
	// Attestations is the number of distinct volunteer nodes whose
	// attestations of block Height or a later one reached this node
	// (nodes, not people: one operator can run many).
	Attestations int `json:"attestations"`
}

// WriteCSV writes the counts, one line per choice, under the header
// ballot_id,height,status,choice,count (the columns of `cocorico results
// --format csv` and of the results page's download). A choice's label is
// anybody's text and the file is opened in spreadsheets: a label that
// would read as a formula is written as text (CSVText).
func (v *ResultsView) WriteCSV(out io.Writer) error {
	w := csv.NewWriter(out)
	w.Write([]string{"ballot_id", "height", "status", "choice", "count"})
	for _, c := range v.Choices {
		w.Write([]string{v.BallotID.String(), strconv.FormatUint(v.Height, 10), v.Status, CSVText(c.Label), strconv.FormatUint(c.Count, 10)})
	}
	w.Flush()
	return w.Error()
}

// CSVText returns s as a CSV cell that a spreadsheet shows as text: one
// beginning with =, +, -, @, a tab or a carriage return (which
// spreadsheets take for a formula: "=HYPERLINK(…)" in a choice would be a
// link in the organizer's results file) gets a ' in front, as OWASP
// advises; any other is s.
func CSVText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// SubmitView answers an accepted transaction.
type SubmitView struct {
	CastID   *consensus.Hash `json:"cast_id,omitempty"`
	BallotID *consensus.Hash `json:"ballot_id,omitempty"`
	// TxID names an accepted keykeeper transaction.
	TxID *consensus.Hash `json:"tx_id,omitempty"`
}

// KeyringView is the answer of GET /v1/ballots/{id}/keyring: a sealed
// ballot's key generation as the chain holds it (docs/PROTOCOL.md §19).
type KeyringView struct {
	BallotID   consensus.Hash     `json:"ballot_id"`
	Threshold  int                `json:"threshold"`
	Keykeepers []ballot.Keykeeper `json:"keykeepers"`
	// Qualified are the 0-based numbers of the dealers whose deal counts.
	Qualified []int `json:"qualified"`
	// ElectionKey is the key voters seal their choices to, once at least
	// Threshold deals qualified (absent before).
	ElectionKey []byte         `json:"election_key,omitempty"`
	Counted     bool           `json:"counted"`
	Keyring     ballot.Keyring `json:"keyring"`
}

// Cast statuses (CONTRACT.md).
const (
	CastPending  = "pending"
	CastFinal    = "final"
	CastReplaced = "replaced"
	CastUnknown  = "unknown"
)

// CastStatusView is the answer of GET /v1/casts/{id}.
type CastStatusView struct {
	CastID consensus.Hash `json:"cast_id"`
	Status string         `json:"status"`
	Height uint64         `json:"height,omitempty"`
	Index  *int           `json:"index,omitempty"`
	// Attestations, for a cast in a final block (final or replaced), is
	// the number of distinct volunteer nodes that attested its block or
	// a later one, 0 included; absent for the other statuses.
	Attestations *int `json:"attestations,omitempty"`
}

// VerifyView is the answer of POST /v1/receipts/verify.
type VerifyView struct {
	Valid  bool                  `json:"valid"`
	Checks []ballot.ReceiptCheck `json:"checks"`
	// Counted is false when a later cast of the same voter key replaced
	// the receipt's cast (or when the cast is not on this node's chain).
	Counted bool `json:"counted"`
	// SealedChoice is, for a cast of a sealed ballot after its count, the
	// choice the cast's sealed choice decrypts to (absent before, and for
	// open ballots whose cast says it in clear).
	SealedChoice *uint32 `json:"sealed_choice,omitempty"`
	// Attestations is the number of distinct volunteer nodes that
	// attested the receipt's block or a later one, as far as this node
	// saw (0 when the block is not on its chain).
	Attestations int `json:"attestations"`
}

// BlockView is the answer of GET /v1/blocks/{height}.
type BlockView struct {
	Height uint64            `json:"height"`
	Hash   consensus.Hash    `json:"hash"`
	Header consensus.Header  `json:"header"`
	TxIDs  []consensus.Hash  `json:"tx_ids"`
	Txs    [][]byte          `json:"txs,omitzero"` // absent with ?txs=false
	Commit *consensus.Commit `json:"commit"`
}
