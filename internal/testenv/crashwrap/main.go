// Command crashwrap stands in a node's CNI bin dir for a plugin, so a test
// can kill -9 the plugin at a chosen point of its ADD (issue 10's crash
// scenario). Installed as <bin>/<plugin>, it runs <bin>/<plugin>.real with
// its own stdin, stdout, stderr and environment.
//
// <bin>/<plugin>.crash names a directory the test owns:
//   - tokens/: one file per kill still to do, holding the delay in
//     microseconds; an ADD claims one by renaming it into claimed/, so
//     concurrent ADDs never take the same one;
//   - kills: a line "<container ID> <delay µs>" per plugin killed;
//   - durations: a line "<µs>" per ADD that ran to its end.
//
// A claimed ADD SIGKILLs the plugin after the delay, then itself, so the
// runtime sees what a kill -9 of the plugin shows it: a plugin killed by a
// signal, with whatever it wrote so far. An ADD that ends first gives its
// token back. Every other command is exec'ed straight away.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	real := self + ".real"
	if os.Getenv("CNI_COMMAND") != "ADD" {
		fail(syscall.Exec(real, append([]string{self}, os.Args[1:]...), os.Environ()))
	}
	raw, err := os.ReadFile(self + ".crash")
	if err != nil {
		fail(syscall.Exec(real, append([]string{self}, os.Args[1:]...), os.Environ()))
	}
	dir := strings.TrimSpace(string(raw))
	token, delay := claim(dir)

	cmd := exec.Command(real, os.Args[1:]...)
	cmd.Args[0] = self
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		giveBack(dir, token)
		fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	if token == "" {
		waitErr = <-done
	} else {
		select {
		case waitErr = <-done:
		case <-time.After(delay):
			_ = cmd.Process.Kill()
			waitErr = <-done
			if killed(waitErr) {
				appendLine(filepath.Join(dir, "kills"), fmt.Sprintf("%s %d", os.Getenv("CNI_CONTAINERID"), delay.Microseconds()))
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}
		giveBack(dir, token)
	}
	appendLine(filepath.Join(dir, "durations"), strconv.FormatInt(time.Since(start).Microseconds(), 10))
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		os.Exit(exitErr.ExitCode())
	}
	if waitErr != nil {
		fail(waitErr)
	}
}

// claim takes a kill token, if any is left: its name in claimed/ and its
// delay.
func claim(dir string) (string, time.Duration) {
	entries, err := os.ReadDir(filepath.Join(dir, "tokens"))
	if err != nil {
		return "", 0
	}
	for _, e := range entries {
		name := fmt.Sprintf("%s.%d", e.Name(), os.Getpid())
		to := filepath.Join(dir, "claimed", name)
		if os.Rename(filepath.Join(dir, "tokens", e.Name()), to) != nil {
			continue // another ADD took it
		}
		raw, err := os.ReadFile(to)
		if err != nil {
			return name, 0
		}
		us, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		return name, time.Duration(us) * time.Microsecond
	}
	return "", 0
}

// giveBack returns an unused token for a later ADD.
func giveBack(dir, name string) {
	if name == "" {
		return
	}
	base := name[:strings.LastIndexByte(name, '.')]
	_ = os.Rename(filepath.Join(dir, "claimed", name), filepath.Join(dir, "tokens", base))
}

func killed(err error) bool {
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return false
	}
	ws, ok := exitErr.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// appendLine writes one line with O_APPEND, which concurrent ADDs may do
// at once: lines this short are written whole.
func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	_, _ = f.WriteString(line + "\n")
	_ = f.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "crashwrap:", err)
	os.Exit(1)
}
