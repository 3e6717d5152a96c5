package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// readBody reads a body whole whether it has a Content-Length or is
// chunked, refuses one over its limit or shorter than announced, and
// reserves its room as it grows: 4 KiB first, then doubling, never more
// than the Content-Length.
func TestReadBodyReadsWholeBodiesRefusesLongOrShortOnesAndReservesAsItGrows(t *testing.T) {
	const max = 100 << 10
	read := func(body []byte, length int64) ([]byte, []int64, error) {
		r := httptest.NewRequest(http.MethodPost, "/v1/casts/batch", io.NopCloser(bytes.NewReader(body)))
		r.ContentLength = length
		var grows []int64
		got, err := readBody(httptest.NewRecorder(), r, max, func(n int64) bool { grows = append(grows, n); return true })
		return got, grows, err
	}
	body := bytes.Repeat([]byte("x"), 70<<10)
	got, grows, err := read(body, int64(len(body)))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("70 KiB with its Content-Length: %d bytes, %v", len(got), err)
	}
	if want := []int64{4 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 6 << 10}; !slices.Equal(grows, want) {
		t.Errorf("reserved %v, want %v (4 KiB, doubling, up to the Content-Length)", grows, want)
	}
	if got, _, err := read(body, -1); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("70 KiB chunked: %d bytes, %v", len(got), err)
	}
	var mbe *http.MaxBytesError
	if _, _, err := read(bytes.Repeat([]byte("x"), max+1), -1); !errors.As(err, &mbe) {
		t.Fatalf("a chunked body over the limit: %v, want MaxBytesError", err)
	}
	if _, _, err := read(body[:1000], int64(len(body))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a body shorter than its Content-Length: %v, want ErrUnexpectedEOF", err)
	}
	if got, _, err := read(nil, 0); err != nil || len(got) != 0 {
		t.Fatalf("an empty body: %q %v", got, err)
	}
	r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(bytes.NewReader(body)))
	if _, err := readBody(httptest.NewRecorder(), r, max, func(int64) bool { return false }); !errors.Is(err, errNoRoom) {
		t.Fatalf("no room: %v, want errNoRoom", err)
	}
}
