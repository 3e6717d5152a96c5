package api

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// slowState is a fake state with one ballot whose voter records are read
// only when the test releases them.
type slowState struct {
	State   // the methods the casts endpoint does not call are left nil
	reading chan struct{}
	release chan struct{}
}

func (s *slowState) BallotAt(id consensus.Hash) (*ballot.Ballot, uint64, bool, error) {
	return &ballot.Ballot{ID: id, Def: &ballot.Definition{}}, 1, true, nil
}

func (s *slowState) VotersAfter(id consensus.Hash, after *ballot.VoterKey, fn func(ballot.VoterKey, ballot.VoterRecord) error) error {
	s.reading <- struct{}{}
	<-s.release
	return fn(ballot.VoterKey{}, ballot.VoterRecord{Height: 1})
}

// Downloads of every counted cast are MaxCastsDownloads at once: a
// further one is answered 503 overloaded at once, and is served once one
// ends.
func TestDownloadsOfEveryCastAreBoundedWithAFakeSlowState(t *testing.T) {
	st := &slowState{reading: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(New(Config{State: st}).Handler())
	defer srv.Close()
	url := srv.URL + "/v1/ballots/" + consensus.Hash{1}.String() + "/casts?format=csv"
	get := func() int {
		resp, err := http.Get(url)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var wg sync.WaitGroup
	for range MaxCastsDownloads {
		wg.Go(func() {
			if status := get(); status != http.StatusOK {
				t.Errorf("a download: %d, want 200", status)
			}
		})
		<-st.reading
	}
	if status := get(); status != http.StatusServiceUnavailable {
		t.Fatalf("a download beyond %d under way: %d, want 503", MaxCastsDownloads, status)
	}
	close(st.release)
	wg.Wait()
	go func() { <-st.reading }()
	if status := get(); status != http.StatusOK {
		t.Fatalf("a download once the others ended: %d, want 200", status)
	}
}

// A format the casts endpoint does not write is a 400, as for the
// results, not a JSON answer the client did not ask for.
func TestTheCastsOfAnUnknownFormatAreABadRequest(t *testing.T) {
	srv := httptest.NewServer(New(Config{State: &slowState{}}).Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/ballots/" + consensus.Hash{1}.String() + "/casts?format=xml")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("format=xml: %d, want 400", resp.StatusCode)
	}
}
