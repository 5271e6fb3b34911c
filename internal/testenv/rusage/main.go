// Command rusage runs a command with this process's stdin, stdout, stderr
// and environment, writes the command's peak resident set (KiB), user and
// system CPU time (µs) to file descriptor 3, and exits with its status.
//
// testenv.ExecPluginUsage runs plugins through it because a child that Go
// starts (clone with CLONE_VM, then exec) has its ru_maxrss seeded with
// the parent's own high-water mark at the exec: measured straight from a
// test process, a plugin's "peak RSS" is the test process's. This process
// is small, so the floor it puts under the figure is a few MiB.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rusage COMMAND [ARG...] (results on fd 3)")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(127)
	}
	u, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if u != nil {
		out := os.NewFile(3, "rusage")
		fmt.Fprintf(out, "%d %d %d\n", u.Maxrss, u.Utime.Nano()/1000, u.Stime.Nano()/1000)
		out.Close()
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
