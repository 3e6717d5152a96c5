package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/cocorico/node/api"
	"github.com/cocorico/node/api/client"
	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/consensus"
)

// The registrar reads ballots from its node: one the node does not know
// is unknown_ballot (the client's fault, charged); a node that is down or
// answers an error is 503 unavailable, with nothing of the node's address
// in the message (it was 500 internal).
func TestTheRegistrarsNodeDownIsUnavailableAndAnUnknownBallotIsUnknown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, errors.New("a fault of the node's"))
	}))
	defer broken.Close()
	unknown := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, api.ErrNotFound)
	}))
	defer unknown.Close()
	id := consensus.Hash{1}
	for name, c := range map[string]struct {
		url  string
		want error
		code int
	}{
		"a node that is down":           {down, api.ErrUnavailable, http.StatusServiceUnavailable},
		"a node that answers 500":       {broken.URL, api.ErrUnavailable, http.StatusServiceUnavailable},
		"a node that knows no such one": {unknown.URL, ballot.ErrUnknownBallot, http.StatusBadRequest},
	} {
		nb := nodeBallots{client.NewNode(c.url), slog.New(slog.DiscardHandler), &rate.Sometimes{Interval: time.Second}}
		_, err := nb.Ballot(context.Background(), id)
		if status, _ := api.ErrorCode(err); !errors.Is(err, c.want) || status != c.code {
			t.Errorf("%s: %v (%d), want %v (%d)", name, err, status, c.want, c.code)
		}
		if err != nil && strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%s: the answer names the node: %v", name, err)
		}
	}
}
