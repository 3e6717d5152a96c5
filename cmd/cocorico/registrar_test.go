package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A secret on the command line is readable by every user of the machine
// (ps, /proc/PID/cmdline) and kept in shell histories: no flag of any
// command takes a token's value, only a file that holds it.
func TestAdminTokenIsNeverReadFromArgv(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			name := strings.ToLower(f.Name)
			if (strings.Contains(name, "token") || strings.Contains(name, "secret")) && !strings.HasSuffix(name, "-file") {
				t.Errorf("%s --%s takes a secret on the command line", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	for _, args := range [][]string{
		{"registrar", "serve", "--home", t.TempDir(), "--admin-token", "s3cret"},
		{"ballot", "create", "--question", "q", "--closes", "+1d", "--registrar", "http://127.0.0.1:1", "--registrar-token", "s3cret"},
	} {
		if code, out := runCLI(args...); code != exitUsage || !strings.Contains(out, "unknown flag") {
			t.Errorf("cocorico %v: exit %d, want a usage error\n%s", args, code, out)
		}
	}
}

func TestAdminTokenComesFromItsFileOrTheEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	os.WriteFile(path, []byte("from-file\n"), 0o600)
	t.Setenv(adminTokenEnv, "from-env")
	if tok, err := readAdminToken(path); err != nil || tok != "from-file" {
		t.Fatalf("file: %q %v", tok, err)
	}
	if tok, err := readAdminToken(""); err != nil || tok != "from-env" {
		t.Fatalf("environment: %q %v", tok, err)
	}
	os.WriteFile(path, []byte("\n"), 0o600)
	if _, err := readAdminToken(path); err == nil {
		t.Fatal("an empty token file was accepted")
	}
}

// A short admin token is refused at start, with how to make a good one:
// its guesses are throttled, not impossible.
func TestARegistrarRefusesAShortAdminToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	os.WriteFile(path, []byte("s3cret\n"), 0o600)
	code, out := runCLI("registrar", "serve", "--home", t.TempDir(), "--node", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin-token-file", path)
	if code == 0 || !strings.Contains(out, "at least 16") || !strings.Contains(out, "openssl rand") {
		t.Fatalf("a 6-character admin token: exit %d\n%s", code, out)
	}
}
