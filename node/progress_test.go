package node

import "testing"

// A volunteer's log says "sync progress" at each report while it is
// behind its peers, then "caught up" once when it is level, then nothing
// while it stays level (a newcomer saw the progress lines stop and no
// word that the node had caught up).
func TestSyncReportsProgressWhileBehindThenCaughtUpOnce(t *testing.T) {
	behind := false
	var got []string
	for _, s := range []SyncProgress{
		{Height: 0, Target: 0},  // not started: nothing
		{Height: 0, Target: 15}, // joining
		{Height: 9, Target: 15},
		{Height: 15, Target: 15}, // level
		{Height: 16, Target: 16}, // still level
		{Height: 16, Target: 20}, // behind again
		{Height: 20, Target: 20},
	} {
		var caughtUp bool
		behind, caughtUp = syncReport(s, behind)
		switch {
		case behind:
			got = append(got, "progress")
		case caughtUp:
			got = append(got, "caught up")
		default:
			got = append(got, "")
		}
	}
	want := []string{"", "progress", "progress", "caught up", "", "progress", "caught up"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("reports %q, want %q", got, want)
		}
	}
}
