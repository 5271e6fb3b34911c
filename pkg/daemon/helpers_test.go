package daemon

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const testConflist = `{
  "cniVersion": "1.1.0",
  "name": "meta-cni",
  "plugins": [{"type": "meta-cni", "kubeconfig": "/from/the/chart", "clusterNetwork": "cbr0"}]
}`

// hostConfDir is only ever written into files, never touched: it is the
// path the host would see, distinct from every temp dir the tests use.
const hostConfDir = "/etc/cni/net.d"

// fixture is a node in temp dirs: an image's bin dir, a mounted token, CA
// and conflist, and the host's empty bin, conf and cache dirs.
type fixture struct {
	cfg Config
	d   *Daemon

	mu     sync.Mutex
	writes []string
}

func newFixture(t *testing.T, mutate ...func(*Config)) *fixture {
	t.Helper()
	root := t.TempDir()
	dir := func(parts ...string) string {
		p := filepath.Join(append([]string{root}, parts...)...)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := &fixture{cfg: Config{
		SourceBinDir:         dir("image", "bin"),
		CNIBinDir:            dir("host", "opt", "cni", "bin"),
		CNIConfDir:           dir("host", "etc", "cni", "net.d"),
		HostCNIConfDir:       hostConfDir,
		ConfFile:             filepath.Join(dir("config"), "meta-cni.conflist"),
		ConfName:             "00-meta-cni.conflist",
		EtcdSecretDir:        filepath.Join(root, "etcd-secret"),
		TokenFile:            filepath.Join(dir("sa"), "token"),
		CAFile:               filepath.Join(root, "sa", "ca.crt"),
		APIServer:            "https://10.96.0.1:443",
		CacheDir:             dir("host", "var", "lib", "meta-cni"),
		TokenRefreshInterval: 10 * time.Millisecond,
		// A test whose conflist leaves the cluster network to the daemon
		// fails rather than hangs when no conf appears.
		ClusterNetworkTimeout: 10 * time.Second,
	}}
	for name, content := range map[string]string{"meta-cni": "plugin", "etcd-ipam": "ipam", "host-route": "route"} {
		writeFile(t, filepath.Join(f.cfg.SourceBinDir, name), content, 0o755)
	}
	writeFile(t, f.cfg.ConfFile, testConflist, 0o644)
	writeFile(t, f.cfg.TokenFile, "token-1", 0o600)
	writeFile(t, f.cfg.CAFile, "ca-pem", 0o644)
	for _, m := range mutate {
		m(&f.cfg)
	}
	d, err := New(f.cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	d.onWrite = func(path string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.writes = append(f.writes, path)
	}
	f.d = d
	return f
}

func (f *fixture) takeWrites() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.writes
	f.writes = nil
	return w
}

func (f *fixture) conflistPath() string { return filepath.Join(f.cfg.CNIConfDir, f.cfg.ConfName) }
func (f *fixture) credPath(name string) string {
	return filepath.Join(f.cfg.CNIConfDir, "meta-cni.d", name)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %o, want %o", path, fi.Mode().Perm(), want)
	}
}

// installedPlugin returns the meta-cni plugin object of the installed conflist.
func installedPlugin(t *testing.T, f *fixture) map[string]any {
	t.Helper()
	return metaCNIEntry(t, []byte(readFile(t, f.conflistPath())))
}

// metaCNIEntry returns the meta-cni plugin object of a conflist.
func metaCNIEntry(t *testing.T, conflist []byte) map[string]any {
	t.Helper()
	var cl struct {
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(conflist, &cl); err != nil {
		t.Fatalf("installed conflist: %v", err)
	}
	for _, p := range cl.Plugins {
		if p["type"] == "meta-cni" {
			return p
		}
	}
	t.Fatalf("installed conflist has no meta-cni plugin")
	return nil
}
