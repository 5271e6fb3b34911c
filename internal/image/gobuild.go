package image

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress receives a line for each step of an image build (what is
// compiled, what is packed, a tarball reused), in the shape testenv's tool
// builds print, so a first `make image` is not silent for a minute.
var Progress io.Writer = os.Stderr

func progressf(format string, args ...any) {
	if Progress != nil {
		fmt.Fprintf(Progress, "    "+format+"\n", args...)
	}
}

// VersionVar is the variable the version ldflag sets, as the Makefile's
// LDFLAGS set it.
const VersionVar = "github.com/meta-cni/meta-cni/pkg/release.Version"

var (
	rootOnce sync.Once
	root     string
)

// moduleRoot is the directory holding meta-cni's go.mod, found from this
// source file: the packages are built from the source tree, whatever the
// caller's working directory. (internal/testenv finds it the same way; it
// cannot be imported here, since testenv builds images with this package.)
func moduleRoot() string {
	rootOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	})
	return root
}

// progressEvery is how often a running build says how far it is.
const progressEvery = 10 * time.Second

// GoBuild compiles pkgs (e.g. "./cmd/...") of the meta-cni module into
// outDir as static binaries, with -trimpath and, when version is set, the
// version ldflag. While it runs it reports how many packages are compiled.
func GoBuild(outDir, version string, pkgs ...string) error {
	start := time.Now()
	args := []string{"build", "-v", "-trimpath"}
	if version != "" {
		args = append(args, "-ldflags", "-X "+VersionVar+"="+version)
	}
	args = append(append(args, "-o", outDir+string(filepath.Separator)), pkgs...)
	what := strings.Join(pkgs, " ")
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")

	list := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...)
	list.Dir, list.Env = moduleRoot(), env
	deps, err := list.Output()
	if err != nil {
		return fmt.Errorf("go list -deps %s: %w%s", what, err, stderrOf(err))
	}
	progressf("compiling %s, version %q: %d packages at most (the first build takes minutes on 2 cores)", what, version, bytes.Count(deps, []byte("\n")))

	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = moduleRoot(), env
	var compiled atomic.Int64
	var other []string
	lines := &lineWriter{fn: func(line string) {
		if line == "" || strings.ContainsAny(line, " \t:") {
			other = append(other, line) // an error, or a download notice
			return
		}
		compiled.Add(1)
	}}
	cmd.Stdout, cmd.Stderr = lines, lines
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("go build %s: %w", what, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			lines.flush()
			if err != nil {
				return fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), cmd.Dir, err, strings.Join(other, "\n"))
			}
			progressf("compiled %s in %s (%d packages not in the build cache)", what, time.Since(start).Round(100*time.Millisecond), compiled.Load())
			return nil
		case <-tick.C:
			progressf("%s: %d packages compiled, %s", what, compiled.Load(), time.Since(start).Round(time.Second))
		}
	}
}

// lineWriter calls fn with each complete line written to it; exec's copy
// goroutine is its only writer, and flush runs after Wait.
type lineWriter struct {
	fn  func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.fn(string(w.buf))
		w.buf = nil
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return "\n" + string(ee.Stderr)
	}
	return ""
}
