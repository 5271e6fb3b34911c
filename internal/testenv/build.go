package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
)

// ReferencePlugins are the containernetworking/plugins binaries the tests
// use, built from the version pinned in go.mod.
var ReferencePlugins = []string{
	"github.com/containernetworking/plugins/plugins/main/macvlan",
	"github.com/containernetworking/plugins/plugins/main/ipvlan",
	"github.com/containernetworking/plugins/plugins/main/bridge",
	"github.com/containernetworking/plugins/plugins/main/ptp",
	"github.com/containernetworking/plugins/plugins/main/loopback",
	"github.com/containernetworking/plugins/plugins/ipam/host-local",
	"github.com/containernetworking/plugins/plugins/ipam/static",
	"github.com/containernetworking/plugins/plugins/meta/portmap",
	"github.com/containernetworking/plugins/plugins/meta/tuning",
}

var (
	repoRootOnce sync.Once
	repoRoot     string
)

// RepoRoot is the directory holding go.mod, found from this source file.
func RepoRoot() string {
	repoRootOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	})
	return repoRoot
}

// CacheDir is the gitignored folder for built tools and test binaries.
func CacheDir() string { return filepath.Join(RepoRoot(), ".cache") }

var (
	cniPathOnce sync.Once
	cniPath     string
	cniPathErr  error
)

// CNIPath builds the reference plugins and every binary under cmd/ into one
// directory, once per test process, and returns it. Test processes of other
// packages share the directory under a file lock.
func CNIPath() (string, error) {
	cniPathOnce.Do(func() {
		dir := filepath.Join(CacheDir(), "cni-bin")
		cniPathErr = withFileLock(filepath.Join(CacheDir(), "cni-bin.lock"), func() error {
			args := append([]string{"build", "-o", dir + "/", "./cmd/...", "./internal/testenv/rusage", "./internal/testenv/crashwrap"}, ReferencePlugins...)
			return goCommand(RepoRoot(), args...)
		})
		cniPath = dir
	})
	return cniPath, cniPathErr
}

// MustCNIPath is CNIPath for tests.
func MustCNIPath(t interface {
	Helper()
	Fatalf(string, ...any)
}) string {
	t.Helper()
	dir, err := CNIPath()
	if err != nil {
		t.Fatalf("build CNI plugins: %v", err)
	}
	return dir
}

func goCommand(dir string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %v in %s: %w\n%s", args, dir, err, out)
	}
	return nil
}

// withFileLock runs fn while holding an exclusive flock on path, so parallel
// `go test` processes do not build into the same directory at once.
func withFileLock(path string, fn func() error) error {
	return withFileLockOr(path, nil, fn)
}

// withFileLockOr is withFileLock that calls onWait first when another
// process holds the lock.
func withFileLockOr(path string, onWait func(), fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if onWait != nil {
			onWait()
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			return fmt.Errorf("lock %s: %w", path, err)
		}
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}
