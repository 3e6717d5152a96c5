// Command cocorico is the Cocorico node: a self-hosted micro-blockchain for
// citizen ballots. Run `cocorico --help` for the commands.
package main

import (
	"os"
	"path/filepath"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// self is how this program was started ("./cocorico", "cocorico", "go
// run ./cmd/cocorico"), for the commands it prints.
func self() string {
	switch {
	case len(os.Args) == 0:
	case strings.Contains(os.Args[0], "go-build"): // go run's temporary binary
		return "go run ./cmd/cocorico"
	case strings.ContainsRune(os.Args[0], '/') && !filepath.IsAbs(os.Args[0]):
		return os.Args[0]
	}
	return "cocorico"
}
