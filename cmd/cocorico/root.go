package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of docs/CONTRACT.md.
const (
	exitOK     = 0
	exitFailed = 1 // a check failed or the server refused
	exitUsage  = 2 // bad usage
)

// usageError marks an error as the user's misuse of the command line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run executes the command line args and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "cocorico:", err)
	var u usageError
	if errors.As(err, &u) || isCobraUsageError(err) {
		return exitUsage
	}
	return exitFailed
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cocorico",
		Short: "The Cocorico node: a self-hosted micro-blockchain for citizen ballots",
		Long: `Cocorico runs citizen ballots on a small proof-of-authority blockchain.
Voters cast blind-signed ballots to any node, a few authorities order them
with a BFT consensus, and every node keeps the full ledger: results, a
recount and a voter's receipt can be checked on any of them.

Start with:  cocorico devnet`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newDevnetCmd(),
		newTestnetCmd(),
		newInitCmd(),
		newNodeCmd(),
		newRegistrarCmd(),
		newBallotCmd(),
		newVoteCmd(),
		newKeykeeperCmd(),
		newReceiptCmd(),
		newStatusCmd(),
		newResultsCmd(),
		newRecountCmd(),
		newBenchCmd(),
		newVersionCmd(),
	)
	return root
}

// isCobraUsageError recognises cobra's own argument errors (unknown
// command, wrong number of arguments), which it returns as plain errors.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "cocorico %s\n", version)
			if bi, ok := debug.ReadBuildInfo(); ok {
				fmt.Fprintf(out, "go %s\n", bi.GoVersion)
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
						fmt.Fprintf(out, "%s %s\n", s.Key, s.Value)
					}
				}
			}
			return nil
		},
	}
}
