package node

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/ballottest"
	"github.com/cocorico/node/consensus"
)

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func getCSV(t *testing.T, url string) [][]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestAuditorsReadEveryCountedCastByPagesOrAsOneCSVAndTheAttestationCounts:
// a volunteer applied a ballot's casts (a re-vote among them); its API
// lists each counted cast once (the re-voted key's latest), paged in
// voter key order and streamed as CSV; the results' CSV has the JSON's
// counts; attestations, alarms and their counts are served.
func TestAuditorsReadEveryCountedCastByPagesOrAsOneCSVAndTheAttestationCounts(t *testing.T) {
	g, keys := ballottest.Validators("audit-chain", 4, 21)
	e := ballottest.NewElection(ballottest.Options{Genesis: g, Seed: 21, Revote: true})
	n := volunteerNode(t, g)
	ctx := context.Background()
	at := g.GenesisTime
	commit := func(txs ...[]byte) {
		t.Helper()
		for _, tx := range txs {
			if _, err := n.app.Submit(ctx, tx); err != nil {
				t.Fatal(err)
			}
		}
		h, _, _ := n.app.Tip()
		at = at.Add(3 * time.Second)
		b, err := n.app.ProposeBlock(ctx, h+1, 0, at)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.applyFollowed(ctx, b, ballottest.Commit(g.Chain(), keys, &b.Header, 0)); err != nil {
			t.Fatal(err)
		}
	}
	commit(e.DefinitionTx().Bytes)
	var first [][]byte
	voters := make([]*ballottest.Voter, 7)
	for i := range voters {
		voters[i] = e.NewVoter()
		first = append(first, ballottest.Checked(e.Cast(voters[i], 1, uint32(i%3))).Bytes)
	}
	commit(first...)
	revote := ballottest.Checked(e.Cast(voters[0], 2, 2))
	commit(revote.Bytes)
	// Two other volunteers attested block 3; a validator's attestation never counts.
	for i := range 2 {
		if _, err := n.witness.addAttestation(consensus.NewAttestation(g.Chain(), 3, consensus.Hash{}, consensus.Hash{}, keyN(i))); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(n.api.Handler())
	defer srv.Close()
	base := srv.URL + "/v1/ballots/" + e.Ballot.ID.String()

	want := map[consensus.Hash]bool{revote.ID: true}
	for _, tx := range first[1:] {
		want[ballot.TxID(tx)] = true
	}
	got := map[consensus.Hash]uint64{}
	pages, after := 0, ""
	for {
		var page api.CastsView
		getJSON(t, base+"/casts?limit=3"+after, &page)
		pages++
		for _, c := range page.Casts {
			if _, dup := got[c.CastID]; dup {
				t.Fatalf("cast %s listed twice", c.CastID)
			}
			got[c.CastID] = c.Height
		}
		if page.Next == "" {
			break
		}
		after = "&after=" + page.Next
	}
	if len(got) != len(want) || pages != 3 {
		t.Fatalf("%d casts in %d pages, want %d in 3", len(got), pages, len(want))
	}
	// Hex is lowercase in the API (docs/API.md §Errors): a cursor in
	// uppercase is 400, as an uppercase hash is.
	wantStatus(t, base+"/casts?limit=3&after="+strings.ToUpper(strings.TrimPrefix(after, "&after=")), http.StatusBadRequest)
	for id := range want {
		if _, ok := got[id]; !ok {
			t.Fatalf("counted cast %s missing", id)
		}
	}
	if got[revote.ID] != 3 {
		t.Fatalf("the re-vote's height %d, want 3", got[revote.ID])
	}
	rows := getCSV(t, base+"/casts?format=csv")
	if strings.Join(rows[0], ",") != "cast_id,height" || len(rows) != len(want)+1 {
		t.Fatalf("casts CSV: %v", rows)
	}
	for _, r := range rows[1:] {
		id, _ := consensus.ParseHash(r[0])
		if !want[id] {
			t.Fatalf("casts CSV line %v is no counted cast", r)
		}
	}

	var res api.ResultsView
	getJSON(t, base+"/results", &res)
	if res.Attestations != 3 { // this volunteer and two others attested block 3
		t.Fatalf("results: %d attestations, want 3", res.Attestations)
	}
	rows = getCSV(t, base+"/results?format=csv")
	var sb strings.Builder
	res.WriteCSV(&sb)
	wantRows, _ := csv.NewReader(strings.NewReader(sb.String())).ReadAll()
	if len(rows) != len(wantRows) || len(rows) != 4 {
		t.Fatalf("results CSV %v, want %v", rows, wantRows)
	}
	for i := range rows {
		if strings.Join(rows[i], ",") != strings.Join(wantRows[i], ",") {
			t.Fatalf("results CSV line %d: %v, want %v", i, rows[i], wantRows[i])
		}
	}
	// The poll: the same results answer 304 to their ETag.
	req, _ := http.NewRequest("GET", base+"/results", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
		t.Fatalf("poll with the ETag: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	// A page of another site may poll so: CORS lets it send If-None-Match
	// and read the ETag.
	if resp.Header.Get("Access-Control-Expose-Headers") != "Retry-After, ETag" {
		t.Fatalf("the results' answer exposes %q to other sites, want Retry-After, ETag", resp.Header.Get("Access-Control-Expose-Headers"))
	}
	pre, _ := http.NewRequest(http.MethodOptions, base+"/results", nil)
	pre.Header.Set("Origin", "https://movement.example")
	pre.Header.Set("Access-Control-Request-Headers", "if-none-match")
	if resp, err = http.DefaultClient.Do(pre); err != nil || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "If-None-Match") {
		t.Fatalf("a preflight for If-None-Match: %v, allows %q", err, resp.Header.Get("Access-Control-Allow-Headers"))
	}
	resp.Body.Close()

	var av api.AttestationsView
	getJSON(t, srv.URL+"/v1/blocks/3/attestations?limit=2", &av)
	if len(av.Attestations) != 2 || av.Count != 3 || av.Next == "" {
		t.Fatalf("attestations page 1: %+v", av)
	}
	wantStatus(t, srv.URL+"/v1/blocks/3/attestations?limit=2&after="+strings.ToUpper(av.Next), http.StatusBadRequest)
	getJSON(t, srv.URL+"/v1/blocks/3/attestations?limit=2&after="+av.Next, &av)
	if len(av.Attestations) != 1 {
		t.Fatalf("attestations page 2: %+v", av)
	}
	var st api.StatusView
	getJSON(t, srv.URL+"/v1/status", &st)
	if st.Attestations != 3 || st.Alarms != 0 {
		t.Fatalf("status: %d attestations, %d alarms", st.Attestations, st.Alarms)
	}
	var al api.AlarmsView
	getJSON(t, srv.URL+"/v1/alarms", &al)
	if al.Alarms == nil || len(al.Alarms) != 0 {
		t.Fatalf("alarms: %+v", al)
	}
	// A query the API cannot read one way only is a 400: a parameter given
	// twice, a malformed escape, a txs that is neither true nor false.
	for _, q := range []string{"/v1/ballots?limit=1&limit=2", "/v1/status?%zz", "/v1/blocks/3?txs=maybe", "/v1/blocks/3?txs=false&txs=true"} {
		wantStatus(t, srv.URL+q, http.StatusBadRequest)
	}
	// A block with ?txs=false: the ids, and no "txs" key (it was null).
	for query, wantTxs := range map[string]bool{"": true, "?txs=false": false} {
		var raw map[string]json.RawMessage
		getJSON(t, srv.URL+"/v1/blocks/3"+query, &raw)
		txs, has := raw["txs"]
		if has != wantTxs || string(raw["tx_ids"]) == "null" || (has && string(txs) == "null") {
			t.Fatalf("block 3%s: txs %s (present %v), tx_ids %s", query, txs, has, raw["tx_ids"])
		}
	}
}

// wantStatus fails t unless a GET of url answers status.
func wantStatus(t *testing.T, url string, status int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d", url, resp.StatusCode, status)
	}
}
