package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress receives a line for each step of a long build (what is built,
// how many of its packages are compiled, and a tool that is reused), so a
// first `make demo` or `make tools` is never silent for minutes. Tests
// leave it on stderr, which `go test` shows only with -v or on failure.
var Progress io.Writer = os.Stderr

// progressEvery is how often a running build reports how far it is.
const progressEvery = 5 * time.Second

func progressf(format string, args ...any) {
	if Progress != nil {
		fmt.Fprintf(Progress, "    "+format+"\n", args...)
	}
}

// reused names the tools this process has said it reuses, so it says so once.
var reused sync.Map

// buildTool builds a binary from a tool module under hack/tools/<module>
// into .cache/tools/<name>, unless it is already there.
func buildTool(module, pkg, name string) (string, error) {
	return buildToolWithLDFlags(module, pkg, name, "")
}

// buildToolWithLDFlags is buildTool with linker flags, for binaries that
// learn their version from -X (the Kubernetes ones).
func buildToolWithLDFlags(module, pkg, name, ldflags string) (string, error) {
	out := filepath.Join(CacheDir(), "tools", name)
	waiting := func() { progressf("waiting for another process that is building %s", name) }
	err := withFileLockOr(out+".lock", waiting, func() error {
		if st, err := os.Stat(out); err == nil {
			if _, said := reused.LoadOrStore(name, true); !said {
				progressf("reusing %s, built %s (make clean rebuilds it)", relToRepo(out), st.ModTime().Format(time.DateTime))
			}
			return nil
		}
		return goBuildWithProgress(filepath.Join(RepoRoot(), "hack", "tools", module), pkg, name, out, ldflags)
	})
	return out, err
}

// goBuildWithProgress runs `go build -v`, which names each package as it
// is compiled, and reports the count against the package's dependencies.
func goBuildWithProgress(dir, pkg, name, out, ldflags string) error {
	start := time.Now()
	progressf("building %s from %s (first run only; cached in %s)", name, relToRepo(dir), relToRepo(filepath.Dir(out)))
	list := exec.Command("go", "list", "-deps", pkg)
	list.Dir, list.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	deps, err := list.Output()
	if err != nil {
		return fmt.Errorf("go list -deps %s in %s: %w%s", pkg, dir, err, stderrOf(err))
	}
	total := bytes.Count(deps, []byte("\n"))
	progressf("%s: %d packages to compile at most (modules resolved in %s)", name, total, time.Since(start).Round(time.Second))

	args := []string{"build", "-v", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var compiled atomic.Int64
	var other []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.ContainsAny(line, " \t:") || line == "" {
				other = append(other, line) // an error, or a download notice
				continue
			}
			compiled.Add(1)
		}
	}()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	waited := make(chan error, 1)
	go func() { <-done; waited <- cmd.Wait() }()
	for {
		select {
		case err := <-waited:
			if err != nil {
				return fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, strings.Join(other, "\n"))
			}
			progressf("built %s in %s (%d packages compiled)", name, time.Since(start).Round(time.Second), compiled.Load())
			return nil
		case <-tick.C:
			progressf("%s: %d of %d packages compiled, %s", name, compiled.Load(), total, time.Since(start).Round(time.Second))
		}
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return "\n" + string(ee.Stderr)
	}
	return ""
}

func relToRepo(path string) string {
	if rel, err := filepath.Rel(RepoRoot(), path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}
