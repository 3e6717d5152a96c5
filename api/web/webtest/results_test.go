//go:build browser

package webtest

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
	"github.com/cocorico/node/node"
)

// The results page of a devnet ballot served by a volunteer: it shows the
// counts, checks them in the browser (signed by the validators), shows
// the volunteers' re-verification, updates without reload when a vote
// lands, and its CSV download is the API's results. The volunteer's own
// page shows what it checked and its attestations.
func TestBrowserResultsPageIsLiveCheckedAndDownloadsTheAPIsResults(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 4, Volunteers: 2, Voters: 10})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	validator, volunteer := info.Nodes[0].API, info.Nodes[4].API
	ballotID := info.Ballot.String()
	cliVote(t, ctx, info, validator, roll[0], "for")
	cliVote(t, ctx, info, validator, roll[1], "against")

	b := newBrowser(t)
	tab := b.ctx
	b.do(tab, "the volunteer's results page shows two votes, signed and re-verified",
		chromedp.Navigate(volunteer+"/ballots/"+ballotID+"/results"),
		void(chromedp.Poll[bool](`document.body.dataset.counted === '2' && document.body.dataset.signed === '3'
			&& Number(document.body.dataset.attestations) >= 2`, chromedp.WithPollingTimeout(60*time.Second))))
	b.shot(tab, "results-fr")
	b.checkNamed(tab, "results")
	if s := evalString(t, tab, `document.getElementById('signed').innerText`); !strings.Contains(s, "3 validateurs sur 4") {
		t.Errorf("signatures line %q", s)
	}
	// The facts name one block for the figures (h) and the next for their
	// signatures (h+1, whose header holds their app hash). When a newer
	// block left the counts as they were, the facts stay on the signed
	// block, with its fingerprint: never two blocks for the same figures.
	b.do(tab, "the facts' fingerprint is the block they name",
		void(chromedp.Poll[bool](`document.getElementById('block').innerText.length === 64 && document.body.dataset.asOf === document.getElementById('height').innerText`,
			chromedp.WithPollingTimeout(30*time.Second))))
	facts := strings.Split(evalString(t, tab, `[document.getElementById('height').innerText, document.body.dataset.signedBlock,
		document.getElementById('signed').innerText, document.getElementById('block').innerText].join('|')`), "|")
	asOf, _ := strconv.Atoi(facts[0])
	signedIn, _ := strconv.Atoi(facts[1])
	if signedIn != asOf+1 || !strings.Contains(facts[2], fmt.Sprintf("le bloc %d ", signedIn)) || strings.Contains(facts[2], "arrêtés") {
		t.Errorf("figures as of block %d, signed in block %d: the signatures line %q, want the next block and no other", asOf, signedIn, facts[2])
	}
	if blk, err := client.NewNode(volunteer).Block(ctx, uint64(asOf)); err != nil {
		t.Error(err)
	} else if blk.Hash.String() != facts[3] {
		t.Errorf("the facts name block %d with the fingerprint %s, which is block %d's %s", asOf, facts[3], asOf, blk.Hash)
	}
	if s := evalString(t, tab, `document.getElementById('reverified').innerText`); !strings.Contains(s, "Revérifiés par 2 nœuds indépendants") {
		t.Errorf("re-verified line %q", s)
	}
	if s := evalString(t, tab, `document.body.innerText`); !strings.Contains(s, "Des nœuds, pas des personnes") {
		t.Error("the page does not say that nodes are not people")
	}
	if s := evalString(t, tab, `document.getElementById('issued').innerText`); !strings.Contains(s, "Devnet registrar") ||
		!strings.HasSuffix(strings.TrimSpace(s), "Sa liste électorale compte 10 électeurs.") {
		t.Errorf("issuance line %q, want the registrar's issuance then its roll's size", s)
	}
	if n := evalString(t, tab, `String(document.querySelectorAll('#chart svg rect.bar').length)`); n != "3" {
		t.Errorf("%s bars in the chart", n)
	}

	// A vote lands on another node: the page shows it without a reload.
	b.do(tab, "mark the page", void(chromedp.Evaluate[any](`window.notReloaded = true`)))
	cliVote(t, ctx, info, info.Nodes[2].API, roll[2], "for")
	b.do(tab, "the new vote appears", void(chromedp.Poll[bool](`document.body.dataset.counted === '3' && window.notReloaded === true`,
		chromedp.WithPollingTimeout(60*time.Second))))
	b.shot(tab, "results-after-a-vote")

	// The CSV download is the API's results, line for line.
	csvFile := b.download(tab, "dl-csv")
	data, err := os.ReadFile(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.NewNode(volunteer).Results(ctx, info.Ballot)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	res.WriteCSV(&want)
	if strings.TrimSpace(string(data)) != strings.TrimSpace(want.String()) || len(got) != 4 {
		t.Errorf("downloaded CSV:\n%s\nthe API's results:\n%s", data, want.String())
	}
	b.note("results.csv", string(data))

	b.do(tab, "the page in English", chromedp.Navigate(volunteer+"/ballots/"+ballotID+"/results?lang=en"),
		void(chromedp.Poll[bool](`document.body.dataset.counted === '3' && document.body.dataset.signed === '3'`,
			chromedp.WithPollingTimeout(60*time.Second))))
	b.shot(tab, "results-en")

	// The volunteer's own page: its role, that it is in step, its
	// attestations of the recent blocks, who signed the last block.
	b.do(tab, "the volunteer's node page", chromedp.Navigate(volunteer+"/?lang=en"),
		void(chromedp.Poll[bool](`document.body.dataset.role === 'volunteer' && Number(document.body.dataset.ownAttestations) > 0`,
			chromedp.WithPollingTimeout(60*time.Second))))
	b.shot(tab, "volunteer-node-page")
	b.checkNamed(tab, "node")
	if s := evalString(t, tab, `document.getElementById('node-sync').innerText`); s == "" {
		t.Error("no sync progress on the volunteer's page")
	}
	if n := evalString(t, tab, `String(document.querySelectorAll('#node-validators li.signed').length)`); n < "3" {
		t.Errorf("%s validators shown signing the last block", n)
	}
	// A validator missing from the last commit was not needed (a commit
	// holds a quorum), not at fault.
	if s := evalString(t, tab, `[...document.querySelectorAll('#node-validators li.unsigned')].map((li) => li.innerText).join('\n')`); s != "" &&
		(!strings.Contains(s, "its signature was not needed for the last block") || strings.Contains(s, "did not sign")) {
		t.Errorf("the validators missing from the last commit: %q", s)
	}
	// An attestation vouches for every block before it, and "Re-verified
	// by" counts the nodes that attested the block or a later one: this
	// node's ✓ is on every block at or below the newest it attested.
	if marks := evalString(t, tab, `[...document.querySelectorAll('#node-blocks tr')].map((tr) => tr.lastChild.innerText.endsWith('✓') ? 'v' : '-').join('')`); !regexp.MustCompile(`^-*v+$`).MatchString(marks) {
		t.Errorf("this node's marks on the recent blocks, newest first: %q, want none above its newest attestation and all below", marks)
	}
	b.note("node-page.txt", evalString(t, tab, `document.body.innerText`))

	// A ballot that closes 15 s from now: once a block is past its
	// closing, its page says "Final result".
	id := shortBallot(t, ctx, info, 15*time.Second)
	cliVoteIn(t, ctx, info, id, validator, roll[3], "no")
	b.do(tab, "the closed ballot's final result", chromedp.Navigate(volunteer+"/ballots/"+id.String()+"/results"),
		void(chromedp.Poll[bool](`document.body.dataset.final === 'true' && document.body.dataset.counted === '1'`,
			chromedp.WithPollingTimeout(90*time.Second))))
	if s := evalString(t, tab, `document.getElementById('state').innerText`); s != "Final result" {
		t.Errorf("the closed ballot's state: %q", s)
	}
	b.shot(tab, "final-result-en")
	fmt.Fprintln(os.Stderr, "artefacts in", b.dir)
}

// The results chart draws each choice's share of the votes counted, as
// the ballot page does: with two votes "for" of three, the "for" bar fills
// two thirds of its track, not all of it (a bar scaled to the leader's
// count filled the track, and 67 % read as everyone), at phone and
// desktop widths.
func TestBrowserResultsChartBarsAreSharesOfTheVotesCounted(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodeURL := info.Nodes[0].API
	for i, choice := range []string{"for", "for", "against"} {
		cliVote(t, ctx, info, nodeURL, roll[i], choice)
	}
	b := newBrowser(t)
	tab := b.ctx
	for _, width := range []int64{390, 1280} {
		b.do(tab, fmt.Sprintf("the results page at %d px", width), chromedp.EmulateViewport(width, 900),
			chromedp.Navigate(nodeURL+"/ballots/"+info.Ballot.String()+"/results?lang=en"),
			void(chromedp.Poll[bool](`document.body.dataset.counted === '3'`, chromedp.WithPollingTimeout(30*time.Second))))
		b.shot(tab, fmt.Sprintf("results-chart-%d", width))
		shares := evalString(t, tab, `(() => { const bg = [...document.querySelectorAll('#chart rect.bar-bg')];
			return [...document.querySelectorAll('#chart rect.bar')].map((r, i) =>
				Math.round(100 * r.width.baseVal.value / bg[i].width.baseVal.value)).join(' ') })()`)
		if shares != "67 33 0" {
			t.Errorf("%d px: the bars fill %s %% of their tracks, want 67 33 0 (the shares of the votes)", width, shares)
		}
	}

	// A long answer on a phone: its label ends, shortened, before its
	// count; the table below and the label's title keep it whole.
	long := "Non, attendre l’automne et faire d’abord les travaux de l’école du quartier"
	id := ballotOf(t, ctx, info, time.Now(), time.Now().Add(time.Hour), "Oui", long)
	b.do(tab, "a long answer's results at 390 px", chromedp.EmulateViewport(390, 900),
		chromedp.Navigate(nodeURL+"/ballots/"+id.String()+"/results?lang=fr"),
		void(chromedp.Poll[bool](`document.querySelectorAll('#chart .bar-label').length === 2`, chromedp.WithPollingTimeout(30*time.Second))))
	b.shot(tab, "results-chart-long-answer-390")
	got := evalString(t, tab, `(() => { const l = document.querySelectorAll('#chart .bar-label')[1], v = document.querySelectorAll('#chart .bar-value')[1];
		const lb = l.getBBox(), vb = v.getBBox();
		return [lb.x + lb.width < vb.x, l.firstChild.data.endsWith('…'), l.querySelector('title').textContent,
			document.querySelectorAll('#counts th')[1].innerText].join('|') })()`)
	if want := "true|true|" + long + "|" + long; got != want {
		t.Errorf("the long answer's label at 390 px: %q, want it shortened before its count and whole in its title and the table (%q)", got, want)
	}
}

// shortBallot creates a yes/no ballot of the devnet open from now for d,
// as the devnet's organizer, and waits for it to be final.
func shortBallot(t *testing.T, ctx context.Context, info node.DevnetInfo, d time.Duration) consensus.Hash {
	t.Helper()
	now := time.Now()
	return ballotBetween(t, ctx, info, now, now.Add(d))
}

// ballotBetween creates a yes/no ballot of the devnet open from opens to
// closes, as the devnet's organizer, and waits for it to be final.
func ballotBetween(t *testing.T, ctx context.Context, info node.DevnetInfo, opens, closes time.Time) consensus.Hash {
	t.Helper()
	return ballotOf(t, ctx, info, opens, closes, "yes", "no")
}

// ballotOf is ballotBetween with these choices.
func ballotOf(t *testing.T, ctx context.Context, info node.DevnetInfo, opens, closes time.Time, choices ...string) consensus.Hash {
	t.Helper()
	dir := filepath.Dir(info.Genesis)
	org, err := node.LoadKey(filepath.Join(dir, "organizer.key"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(info.RegistrarTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := client.NewRegistrar(info.Registrar, strings.TrimSpace(string(tok))).NewKey(ctx, ballot.KeyBits2048)
	if err != nil {
		t.Fatal(err)
	}
	n := client.NewNode(info.Nodes[0].API)
	g, err := n.Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	def := &ballot.Definition{ChainID: g.ChainID, GenesisHash: g.Hash(), Question: "A short ballot?", Choices: choices,
		Opens: opens.UnixMilli(), Closes: closes.UnixMilli(),
		Registrars: []ballot.Registrar{{Name: "devnet registrar", URL: info.Registrar, Key: k.PublicKey}}}
	def.Sign(org)
	id, err := n.SubmitDefinition(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := n.Ballot(ctx, id); err == nil {
			return id
		}
		select {
		case <-ctx.Done():
			t.Fatal("the short ballot never became final")
		case <-time.After(100 * time.Millisecond): // polling the node
		}
	}
}

// waitStatus polls the node until ballot id has that status.
func waitStatus(t *testing.T, ctx context.Context, nodeURL string, id consensus.Hash, status string) {
	t.Helper()
	n := client.NewNode(nodeURL)
	for {
		_, v, err := n.Ballot(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status == status {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ballot %s never became %s (still %s)", id, status, v.Status)
		case <-time.After(200 * time.Millisecond): // polling the node
		}
	}
}
