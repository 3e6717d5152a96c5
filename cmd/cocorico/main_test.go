package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain runs the package under a watchdog. The tests here start real
// processes and wait for them; a wait that never ends used to run into Go's
// test timeout, whose dump of every goroutine pushes the name of the stuck
// test out of sight (CI keeps the tail of the output). A minute before that
// timeout the watchdog prints, last, the stacks of the tests still running
// and the end of the logs of the processes they started, kills those
// processes and fails the run.
func TestMain(m *testing.M) {
	flag.Parse()
	var stop func()
	if to := flag.Lookup("test.timeout").Value.(flag.Getter).Get().(time.Duration); to > 2*time.Minute {
		stop = startWatchdog(to - time.Minute)
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// children are the processes the running tests started, each with the
// file its output goes to ("" if none).
var children struct {
	sync.Mutex
	logs map[*exec.Cmd]string
}

// startChild starts cmd as a process that dies with this test binary,
// however it exits (a timeout's panic leaves no orphan devnet), and
// registers it and its log until the test ends, for the watchdog and
// stopChild.
func startChild(t *testing.T, cmd *exec.Cmd, log string) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	children.Lock()
	if children.logs == nil {
		children.logs = map[*exec.Cmd]string{}
	}
	children.logs[cmd] = log
	children.Unlock()
	t.Cleanup(func() {
		children.Lock()
		delete(children.logs, cmd)
		children.Unlock()
	})
}

func startWatchdog(after time.Duration) (stop func()) {
	t := time.AfterFunc(after, func() {
		var b bytes.Buffer
		fmt.Fprintf(&b, "\n=== WATCHDOG: the tests below still run after %v\n", after)
		buf := make([]byte, 16<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range bytes.Split(buf, []byte("\n\n")) {
			if bytes.Contains(g, []byte("cmd/cocorico.Test")) {
				b.Write(g)
				b.WriteString("\n\n")
			}
		}
		children.Lock()
		var logs []string
		for cmd, l := range children.logs {
			cmd.Process.Kill()
			if l != "" {
				logs = append(logs, l)
			}
		}
		children.Unlock()
		sort.Strings(logs)
		for _, l := range logs {
			fmt.Fprintf(&b, "=== the last lines of %s\n%s\n", l, logTail(l, 40))
		}
		b.WriteString("=== WATCHDOG: FAIL (stuck tests above)\n")
		os.Stderr.Write(b.Bytes())
		os.Exit(3)
	})
	return func() { t.Stop() }
}

// stopChild sends sig to a started process and waits for it to end. A
// process still running a minute later is made to print its goroutines
// (SIGQUIT: to its log), killed, and the test fails: a node that does not
// stop is a bug to see, not a test to hang.
func stopChild(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	cmd.Process.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(time.Minute):
	}
	cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	t.Errorf("%s did not stop within a minute of %v; the end of its log, with its goroutines:\n%s",
		strings.Join(cmd.Args[:2], " "), sig, logTail(logOf(cmd), 150))
}

// logOf is the log startChild registered for cmd.
func logOf(cmd *exec.Cmd) string {
	children.Lock()
	defer children.Unlock()
	return children.logs[cmd]
}

// logTail is the last n lines of a log file.
func logTail(path string, n int) string {
	if path == "" {
		return "(no log registered)"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
