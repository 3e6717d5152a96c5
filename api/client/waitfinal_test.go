package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/consensus"
)

// statusScript is a fake node's transport: it answers the status polls
// of a cast with the given statuses in turn, repeating the last one.
type statusScript struct {
	statuses []string
	polls    int
}

func (s *statusScript) RoundTrip(r *http.Request) (*http.Response, error) {
	st := s.statuses[min(s.polls, len(s.statuses)-1)]
	s.polls++
	rec := httptest.NewRecorder()
	api.WriteJSON(rec, http.StatusOK, api.CastStatusView{Status: st})
	return rec.Result(), nil
}

func scriptedNode(s *statusScript) *Node {
	return &Node{base: "http://node.test", http: &http.Client{Transport: s}}
}

// A node that says "unknown" of a cast for less than the grace period,
// then "final", is waited for: one unknown is no verdict (issue 10 item
// 8). The node is a scripted transport; time is synctest's.
func TestWaitFinalToleratesABriefUnknownFromAScriptedNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		every := time.Second // a grace of 10 s is 10 polls
		s := &statusScript{statuses: []string{api.CastPending, api.CastUnknown, api.CastUnknown, api.CastPending,
			api.CastUnknown, api.CastUnknown, api.CastUnknown, api.CastUnknown, api.CastUnknown, api.CastUnknown, api.CastFinal}}
		v, err := scriptedNode(s).WaitFinal(context.Background(), consensus.Hash{1}, every)
		if err != nil || v.Status != api.CastFinal {
			t.Fatalf("after %d polls: %+v, %v", s.polls, v, err)
		}
	})
}

// A cast the node keeps saying "unknown" of is given up once the grace
// period is over, not at the first poll and not never.
func TestWaitFinalGivesUpOnACastUnknownForLongerThanTheGraceFromAScriptedNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		every := time.Second
		s := &statusScript{statuses: []string{api.CastPending, api.CastUnknown}}
		start := time.Now()
		_, err := scriptedNode(s).WaitFinal(context.Background(), consensus.Hash{1}, every)
		waited := time.Since(start)
		if err == nil {
			t.Fatal("no error for a cast unknown for ever")
		}
		if waited <= UnknownGrace || waited > UnknownGrace+3*every {
			t.Fatalf("gave up after %s of (simulated) time, want just over %s: %v", waited, UnknownGrace, err)
		}
	})
}
