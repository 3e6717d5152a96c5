package issuer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/store"
)

// failingReader reads from crypto/rand until its budget of reads is spent,
// then fails: a fault injected into the import's salts.
type failingReader struct {
	mu   sync.Mutex
	left int
}

var errNoMoreSalt = errors.New("no more salt")

func (r *failingReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.left == 0 {
		return 0, errNoMoreSalt
	}
	r.left--
	return rand.Read(p)
}

// A roll is stored rollChunk voters at a time: an import that fails in
// its second chunk (here the salt source gives out, a fake fault) keeps
// the first chunk's voters, and running it again adds the rest.
func TestImportRollThatFailsKeepsTheChunksStoredBeforeAndResumes(t *testing.T) {
	reg, err := store.OpenRegistry(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	entries := make([]registrar.RollEntry, rollChunk+100)
	for i := range entries {
		entries[i] = registrar.RollEntry{VoterID: fmt.Sprintf("voter-%d", i), Code: "C"}
	}
	added, err := ImportRoll(context.Background(), reg, entries, registrar.DemoHashParams, &failingReader{left: rollChunk + 10})
	if !errors.Is(err, errNoMoreSalt) {
		t.Fatalf("import with a salt source that fails: %v", err)
	}
	if added != rollChunk {
		t.Fatalf("the failed import reports %d voters added, want the first chunk's %d", added, rollChunk)
	}
	for _, i := range []int{0, rollChunk - 1} {
		if has, err := reg.HasVoter(entries[i].VoterID); err != nil || !has {
			t.Fatalf("voter %d of the first chunk is not stored after the failure: %v", i, err)
		}
	}
	added, err = ImportRoll(context.Background(), reg, entries, registrar.DemoHashParams, rand.Reader)
	if err != nil || added != 100 {
		t.Fatalf("the import again added %d (%v), want the 100 left", added, err)
	}
}
