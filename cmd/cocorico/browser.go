package main

import (
	"os"
	"os/exec"
	"runtime"
)

// openBrowser opens url in the system browser, as `gh auth login` does:
// open on macOS, xdg-open where a desktop session runs. It reports
// whether it tried; the caller prints the URL anyway, for a machine
// without a browser (a server over SSH) or a browser that did not open.
func openBrowser(url string) bool {
	name := "xdg-open"
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		return false
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return false
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return false
	}
	cmd := exec.Command(path, url)
	if cmd.Start() != nil {
		return false
	}
	// Not waited for: the opener's outcome is the voter's to see, and
	// this short-lived command reaps it when it exits.
	cmd.Process.Release()
	return true
}
