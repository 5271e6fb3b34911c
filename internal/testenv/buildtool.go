package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/meta-cni/meta-cni/internal/gobuild"
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

// goBuildWithProgress builds pkg of the tool module at dir into out,
// reporting the packages compiled as it goes.
func goBuildWithProgress(dir, pkg, name, out, ldflags string) error {
	progressf("building %s from %s (first run only; cached in %s)", name, relToRepo(dir), relToRepo(filepath.Dir(out)))
	var flags []string
	if ldflags != "" {
		flags = []string{"-ldflags", ldflags}
	}
	return gobuild.Build{Name: name, Dir: dir, Pkgs: []string{pkg}, Out: out, Flags: flags, Progressf: progressf, Every: progressEvery}.Run()
}

func relToRepo(path string) string {
	if rel, err := filepath.Rel(RepoRoot(), path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// stderrOf is what a failed exec.Cmd.Output captured on stderr, for its error.
func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return "\n" + string(ee.Stderr)
	}
	return ""
}
