package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocorico/node/api"
)

// A node answering 503 overloaded twice, then 202: the cast goes through
// on the third try. Any other refusal is final at once.
func TestOverloadedIsSentAgainAndOtherRefusalsAreNot(t *testing.T) {
	for _, tc := range []struct {
		name      string
		then      error
		wantTries int64
		wantErr   bool
	}{
		{"overloaded then accepted", nil, 3, false},
		{"overloaded then refused", api.ErrBadRequest, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tries atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tries.Add(1) <= 2 {
					api.WriteError(w, api.ErrOverloaded)
					if w.Header().Get("Retry-After") == "" {
						t.Error("503 without Retry-After")
					}
					return
				}
				if tc.then != nil {
					api.WriteError(w, tc.then)
					return
				}
				api.WriteJSON(w, http.StatusAccepted, map[string]string{"ok": "yes"})
			}))
			defer srv.Close()
			n := NewNode(srv.URL)
			err := retryOverloaded(context.Background(), 10*time.Second, func() error {
				var out map[string]string
				return n.post(context.Background(), "/v1/casts", map[string]int{"x": 1}, &out)
			})
			if (err != nil) != tc.wantErr || tries.Load() != tc.wantTries {
				t.Fatalf("err %v after %d tries; want error %v after %d", err, tries.Load(), tc.wantErr, tc.wantTries)
			}
			if tc.wantErr && Overloaded(err) {
				t.Fatal("the final refusal reported as overload")
			}
		})
	}
	// Overloaded for longer than the budget: the overload is the answer.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.WriteError(w, api.ErrOverloaded) }))
	defer srv.Close()
	err := retryOverloaded(context.Background(), 200*time.Millisecond, func() error {
		return NewNode(srv.URL).post(context.Background(), "/v1/casts", 1, nil)
	})
	if !Overloaded(err) {
		t.Fatalf("after the budget: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
		t.Fatalf("error %v", err)
	}
}
