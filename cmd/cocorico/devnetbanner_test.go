package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocorico/node/node"
)

// The devnet's banner has a voter vote in a browser and another from the
// command line: the same voter in both places is refused the second time
// (one voting right, kept in the browser or in the command line's wallet),
// which a newcomer following the banner with one voter ran into.
func TestTheDevnetBannerGivesTheBrowserAndTheCommandLineTwoDifferentVoters(t *testing.T) {
	dir := t.TempDir()
	roll := filepath.Join(dir, "voters.csv")
	if err := os.WriteFile(roll, []byte("voter_id,code\nvoter-0001,AAAA1111\nvoter-0002,BBBB2222\nvoter-0003,CCCC3333\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	info := node.DevnetInfo{ChainID: "devnet", Registrar: "http://127.0.0.1:8130", Voters: roll,
		Nodes: []node.DevnetNodeInfo{{Name: "validator-0", API: "http://127.0.0.1:8080"}, {Name: "validator-1", API: "http://127.0.0.1:8081"}}}
	var out strings.Builder
	printDevnetBanner(&out, info, dir)
	got := out.String()
	for _, want := range []string{
		"voter id voter-0002, code BBBB2222",
		"--voter voter-0001 --code AAAA1111 --choice for",
		"results --node http://127.0.0.1:8081",
		filepath.Join(dir, "devnet.json"),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the banner lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "voter-0003") {
		t.Errorf("the banner names a third voter:\n%s", got)
	}
}

func TestHeadOfRollStandsInForVotersItCannotRead(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one.csv")
	if err := os.WriteFile(one, []byte("voter-0001,AAAA1111\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := headOfRoll(one, 2); got[0].VoterID != "voter-0001" || got[0].Code != "AAAA1111" || got[1].VoterID != "VOTER" || got[1].Code != "CODE" {
		t.Fatalf("a roll of one voter, without header: %+v", got)
	}
	if got := headOfRoll(filepath.Join(dir, "none.csv"), 2); got[0].VoterID != "VOTER" || got[1].Code != "CODE" {
		t.Fatalf("no roll: %+v", got)
	}
}
