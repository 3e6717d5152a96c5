// Command cocorico is the Cocorico node: a self-hosted micro-blockchain for
// citizen ballots. Run `cocorico --help` for the commands.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
