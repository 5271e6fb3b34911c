// Package gobuild runs one `go build` that reports how far it is, for the
// builds that take minutes on a fresh machine: the tools the tests run
// (internal/testenv) and the binaries packed into images (internal/image).
// It imports nothing of the module, so both can use it.
package gobuild

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
)

// Build is one `go build -v` of Pkgs in the module at Dir.
type Build struct {
	Name  string   // what progress lines call the build
	Dir   string   // the module's directory
	Pkgs  []string // e.g. "./cmd/..." or one import path
	Out   string   // -o: a file, or a directory ending in a separator
	Flags []string // more build flags, e.g. -trimpath or -ldflags X
	Env   []string // added to the environment, after CGO_ENABLED=0
	// Progressf receives each progress line; nil is silent.
	Progressf func(format string, args ...any)
	Every     time.Duration // how often a running build reports; 5s when zero
}

// Run builds. Before it starts it says how many packages the build may
// compile (`go list -deps`); while it runs, `go build -v` names each
// package it compiles and Run reports the count every b.Every; an error
// carries go's own messages.
func (b Build) Run() error {
	say := b.Progressf
	if say == nil {
		say = func(string, ...any) {}
	}
	every := b.Every
	if every == 0 {
		every = 5 * time.Second
	}
	env := append(append(os.Environ(), "CGO_ENABLED=0"), b.Env...)
	what := strings.Join(b.Pkgs, " ")
	start := time.Now()

	list := exec.Command("go", append([]string{"list", "-deps"}, b.Pkgs...)...)
	list.Dir, list.Env = b.Dir, env
	deps, err := list.Output()
	if err != nil {
		return fmt.Errorf("go list -deps %s in %s: %w%s", what, b.Dir, err, stderrOf(err))
	}
	total := bytes.Count(deps, []byte("\n"))
	say("%s: %d packages to compile at most (the first build takes minutes on 2 cores)", b.Name, total)

	args := append(append([]string{"build", "-v"}, b.Flags...), "-o", b.Out)
	cmd := exec.Command("go", append(args, b.Pkgs...)...)
	cmd.Dir, cmd.Env = b.Dir, env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("go build %s: %w", what, err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("go build %s: %w", what, err)
	}
	var compiled atomic.Int64
	var other []string // read only after scanned is closed
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			// -v prints bare import paths; anything else is an error
			// or a download notice, kept for the error message.
			if line := sc.Text(); line == "" || strings.ContainsAny(line, " \t:") {
				other = append(other, line)
			} else {
				compiled.Add(1)
			}
		}
	}()
	waited := make(chan error, 1)
	go func() { <-scanned; waited <- cmd.Wait() }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case err := <-waited:
			if err != nil {
				return fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), b.Dir, err, strings.Join(other, "\n"))
			}
			say("built %s in %s (%d packages compiled, the rest from the build cache)", b.Name, time.Since(start).Round(100*time.Millisecond), compiled.Load())
			return nil
		case <-tick.C:
			say("%s: %d of %d packages compiled, %s", b.Name, compiled.Load(), total, time.Since(start).Round(time.Second))
		}
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return "\n" + string(ee.Stderr)
	}
	return ""
}
