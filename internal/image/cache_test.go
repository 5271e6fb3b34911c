package image

import (
	"bytes"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// captureProgress collects what image builds report, for one test.
func captureProgress(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	old := Progress
	Progress = &buf
	t.Cleanup(func() { Progress = old })
	return &buf
}

// The workload image holds images/workload as its static entrypoint,
// listening on WorkloadPort; a second process finds the same tarball and
// reuses it, and one process builds it once.
func TestWorkloadIsBuiltOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	progress := captureProgress(t)
	stale, recent, node := filepath.Join(dir, "workload-0ld.tar"), filepath.Join(dir, "workload-recent.tar"), filepath.Join(dir, "node-0ld.tar")
	for _, f := range []string{stale, recent, node} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * staleAfter)
	os.Chtimes(stale, long, long)
	os.Chtimes(node, long, long)
	tar1, ref, err := Workload(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ref != WorkloadRef || filepath.Dir(tar1) != dir {
		t.Fatalf("Workload = %s, %s", tar1, ref)
	}
	for f, want := range map[string]bool{stale: false, recent: true, node: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s kept = %v, want %v (only a stale workload tarball goes)", f, err == nil, want)
		}
	}
	if !strings.Contains(progress.String(), "built ./images/workload") || !strings.Contains(progress.String(), "wrote workload image") {
		t.Fatalf("progress %q does not say what was built", progress)
	}
	c, err := ReadTarball(tar1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Tags, []string{WorkloadRef}) || !reflect.DeepEqual(c.Config.Entrypoint, []string{"/usr/bin/workload"}) {
		t.Fatalf("tags %v, entrypoint %v", c.Tags, c.Config.Entrypoint)
	}
	if !contains(c.Config.Env, "LISTEN_ADDRESS=:8080") {
		t.Fatalf("env %v lacks LISTEN_ADDRESS=:8080", c.Config.Env)
	}
	bin, err := ReadFile(tar1, "/usr/bin/workload")
	if err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != "github.com/meta-cni/meta-cni/images/workload" || setting(info, "CGO_ENABLED") != "0" {
		t.Fatalf("the image's binary is %s, CGO_ENABLED=%q; want the static workload", info.Path, setting(info, "CGO_ENABLED"))
	}

	progress.Reset()
	if again, _, err := Workload(dir); err != nil || again != tar1 || progress.Len() != 0 {
		t.Fatalf("second call in one process = %s, %v, progress %q; want %s with no work", again, err, progress, tar1)
	}

	built = sync.Map{} // as a new process would start
	st, _ := os.Stat(tar1)
	again, _, err := Workload(dir)
	if err != nil || again != tar1 || !strings.Contains(progress.String(), "reusing workload image") {
		t.Fatalf("another process = %s, %v, progress %q; want %s reused", again, err, progress, tar1)
	}
	if st2, _ := os.Stat(tar1); !st2.ModTime().Equal(st.ModTime()) {
		t.Fatalf("%s was rewritten", tar1)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(left) > 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

// Node builds every binary with the ref's tag as the daemon's version, so
// an upgrade test's two refs run daemons that say which they are.
func TestNodeVersionIsTheRefsTag(t *testing.T) {
	captureProgress(t)
	dir := t.TempDir()
	const tag = "v9-image-test"
	const ref = "localhost/meta-cni/meta-cni:" + tag
	tarPath, err := Node(dir, ref)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ReadTarball(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Tags, []string{ref}) {
		t.Fatalf("tags %v", c.Tags)
	}
	for _, p := range append([]string{DaemonPath}, PluginDir+"/meta-cni", PluginDir+"/etcd-ipam", PluginDir+"/host-route") {
		bin, err := ReadFile(tarPath, p)
		if err != nil {
			t.Fatal(err)
		}
		info, err := buildinfo.Read(bytes.NewReader(bin))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !strings.HasSuffix(info.Path, "/cmd/"+filepath.Base(p)) {
			t.Errorf("%s holds %s", p, info.Path)
		}
		if setting(info, "-trimpath") != "true" || setting(info, "CGO_ENABLED") != "0" {
			t.Errorf("%s built with -trimpath %q, CGO_ENABLED %q", p, setting(info, "-trimpath"), setting(info, "CGO_ENABLED"))
		}
		// With -trimpath, Go leaves -ldflags out of the build info: the
		// binary itself must say the version the -X flag set (a variable
		// with a function-call initializer once kept the data but reported
		// "(devel)").
		if got := reportedVersion(t, p, bin); !strings.Contains(got, filepath.Base(p)+" "+tag) {
			t.Errorf("%s reports %q, want its version %q", p, got, tag)
		}
	}
}

// reportedVersion runs the binary the way an operator asks it what it is:
// the daemon with --version, a plugin with no CNI_COMMAND (its about line).
func reportedVersion(t *testing.T, path string, bin []byte) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	if path == DaemonPath {
		cmd.Args = append(cmd.Args, "--version")
	}
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", path, err, out)
	}
	return string(out)
}

func setting(info *buildinfo.BuildInfo, key string) string {
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
