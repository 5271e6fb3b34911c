package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/daemon"
)

// The chart passes exactly these flags; a rename here breaks every install.
func TestFlagsMatchChartContract(t *testing.T) {
	want := map[string]string{
		"source-bin-dir":           "/opt/meta-cni/bin",
		"cni-bin-dir":              "/host/opt/cni/bin",
		"cni-conf-dir":             "/host/etc/cni/net.d",
		"host-cni-conf-dir":        "/etc/cni/net.d",
		"conf-file":                "/etc/meta-cni/meta-cni.conflist",
		"conf-name":                "00-meta-cni.conflist",
		"etcd-secret-dir":          "/etc/meta-cni/etcd",
		"token-file":               "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"ca-file":                  "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
		"api-server":               "",
		"cache-dir":                "/host/var/lib/meta-cni",
		"metrics-address":          ":9091",
		"token-refresh-interval":   "1m0s",
		"cleanup-on-exit":          "false",
		"once":                     "false",
		"ipam-reconcile-interval":  "5m0s",
		"ipam-reconcile-grace":     "10m0s",
		"ipam-etcd-prefix":         "/meta-cni/ipam",
		"ipam-pool-count-interval": "1m0s",
		"node-api-socket":          "",
		"cluster-network-timeout":  "10m0s",
		"log-format":               "json",
		"log-level":                "info",
		"version":                  "false",
	}
	var cfg daemon.Config
	var logs logFlags
	fs := newFlags(&cfg, &logs, io.Discard)
	got := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { got[f.Name] = f.DefValue })
	for name, def := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("flag --%s missing", name)
		} else if g != def {
			t.Errorf("flag --%s default %q, want %q", name, g, def)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("flag --%s is not in the chart's contract", name)
		}
	}
	if err := fs.Parse([]string{"--once", "--cleanup-on-exit=true", "--token-refresh-interval=30s", "--conf-name=10-x.conflist",
		"--ipam-reconcile-interval=0", "--ipam-reconcile-grace=1h", "--ipam-etcd-prefix=/other", "--log-format=text", "--log-level=debug"}); err != nil {
		t.Fatal(err)
	}
	if !cfg.Once || !cfg.CleanupOnExit || cfg.TokenRefreshInterval != 30*time.Second || cfg.ConfName != "10-x.conflist" ||
		cfg.IPAMReconcileInterval != 0 || cfg.IPAMReconcileGrace != time.Hour || cfg.IPAMEtcdPrefix != "/other" {
		t.Errorf("parsed %+v", cfg)
	}
	if logs != (logFlags{format: "text", level: "debug"}) {
		t.Errorf("parsed log flags %+v", logs)
	}
}

// node is a host in temp dirs plus the mounts the chart gives the container.
type node struct {
	root, srcBin, binDir, confDir, confFile, token, ca, etcd, cache string
}

func newNode(t *testing.T) *node {
	t.Helper()
	root := t.TempDir()
	n := &node{
		root:     root,
		srcBin:   filepath.Join(root, "image/bin"),
		binDir:   filepath.Join(root, "host/opt/cni/bin"),
		confDir:  filepath.Join(root, "host/etc/cni/net.d"),
		confFile: filepath.Join(root, "config/meta-cni.conflist"),
		token:    filepath.Join(root, "sa/token"),
		ca:       filepath.Join(root, "sa/ca.crt"),
		etcd:     filepath.Join(root, "etcd"),
		cache:    filepath.Join(root, "host/var/lib/meta-cni"),
	}
	write := func(path, content string, mode os.FileMode) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"meta-cni", "etcd-ipam", "host-route", "meta-cni-daemon"} {
		write(filepath.Join(n.srcBin, b), "#!/bin/sh\n# "+b+"\n", 0o755)
	}
	write(n.confFile, `{"cniVersion":"1.1.0","name":"meta-cni","plugins":[{"type":"meta-cni","clusterNetwork":"cbr0"}]}`, 0o644)
	write(n.token, "sa-token", 0o600)
	write(n.ca, "sa-ca", 0o644)
	for _, f := range []string{"ca.crt", "tls.crt", "tls.key", "endpoints"} {
		write(filepath.Join(n.etcd, f), "etcd-"+f, 0o644)
	}
	return n
}

func (n *node) args(extra ...string) []string {
	return append([]string{
		"--source-bin-dir=" + n.srcBin,
		"--cni-bin-dir=" + n.binDir,
		"--cni-conf-dir=" + n.confDir,
		"--host-cni-conf-dir=/etc/cni/net.d",
		"--conf-file=" + n.confFile,
		"--conf-name=00-meta-cni.conflist",
		"--etcd-secret-dir=" + n.etcd,
		"--token-file=" + n.token,
		"--ca-file=" + n.ca,
		"--cache-dir=" + n.cache,
	}, extra...)
}

func (n *node) conflist() string { return filepath.Join(n.confDir, "00-meta-cni.conflist") }

func TestBuiltBinary(t *testing.T) {
	bin := filepath.Join(testenv.MustCNIPath(t), "meta-cni-daemon")

	t.Run("once installs binaries, credentials, etcd secret and conflist, then exits 0", func(t *testing.T) {
		n := newNode(t)
		out, err := exec.Command(bin, n.args("--once", "--api-server=https://10.96.0.1:443")...).CombinedOutput()
		if err != nil {
			t.Fatalf("meta-cni-daemon --once: %v\n%s", err, out)
		}
		for path, mode := range map[string]os.FileMode{
			filepath.Join(n.binDir, "meta-cni"):                        0o755,
			filepath.Join(n.binDir, "etcd-ipam"):                       0o755,
			filepath.Join(n.binDir, "host-route"):                      0o755,
			filepath.Join(n.confDir, "meta-cni.d/token"):               0o600,
			filepath.Join(n.confDir, "meta-cni.d/ca.crt"):              0o600,
			filepath.Join(n.confDir, "meta-cni.d/meta-cni.kubeconfig"): 0o600,
			filepath.Join(n.confDir, "meta-cni.d/etcd/tls.key"):        0o600,
			filepath.Join(n.confDir, "meta-cni.d/etcd/endpoints"):      0o600,
			n.conflist(): 0o644,
		} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Errorf("not installed: %v", err)
			} else if fi.Mode().Perm() != mode {
				t.Errorf("%s: mode %o, want %o", path, fi.Mode().Perm(), mode)
			}
		}
		if _, err := os.Stat(filepath.Join(n.binDir, "meta-cni-daemon")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the daemon copied itself into the CNI bin dir")
		}
		var cl struct {
			Plugins []map[string]any `json:"plugins"`
		}
		data, _ := os.ReadFile(n.conflist())
		if err := json.Unmarshal(data, &cl); err != nil || len(cl.Plugins) != 1 {
			t.Fatalf("installed conflist %s: %v", data, err)
		}
		if got := cl.Plugins[0]["kubeconfig"]; got != "/etc/cni/net.d/meta-cni.d/meta-cni.kubeconfig" {
			t.Errorf("kubeconfig = %v, want the host path", got)
		}
	})

	t.Run("invalid conflist exits 1 naming file and field and installs no conflist", func(t *testing.T) {
		n := newNode(t)
		if err := os.WriteFile(n.confFile, []byte(`{"cniVersion":"1.1.0","name":"x","plugins":[{"type":"macvlan"}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, n.args("--once", "--api-server=https://10.96.0.1:443")...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("exit: %v, want status 1\n%s", err, stderr.String())
		}
		for _, want := range []string{n.confFile, "plugins[].type"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not name %q:\n%s", want, stderr.String())
			}
		}
		if _, err := os.Stat(n.conflist()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("conflist installed despite the error")
		}
	})

	t.Run("SIGTERM with cleanup-on-exit removes the conflist and exits 0", func(t *testing.T) {
		n := newNode(t)
		addr := freeAddress(t)
		cmd, exited, stderr := startDaemon(t, bin, n.args("--cleanup-on-exit", "--metrics-address="+addr, "--token-refresh-interval=50ms")...)
		waitHTTP(t, "http://"+addr+"/readyz", exited, stderr)
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "# TYPE meta_cni_attachments gauge\nmeta_cni_attachments 0\n") {
			t.Errorf("/metrics lacks meta_cni_attachments:\n%s", body)
		}
		kc, _ := os.ReadFile(filepath.Join(n.confDir, "meta-cni.d/meta-cni.kubeconfig"))
		if !strings.Contains(string(kc), "https://10.96.0.1:443") {
			t.Errorf("kubeconfig server is not the in-cluster address:\n%s", kc)
		}

		if err := os.WriteFile(n.token, []byte("rotated"), 0o600); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for got, _ := os.ReadFile(filepath.Join(n.confDir, "meta-cni.d/token")); string(got) != "rotated"; got, _ = os.ReadFile(filepath.Join(n.confDir, "meta-cni.d/token")) {
			if time.Now().After(deadline) {
				t.Fatalf("rotated token not copied; host token %q", got)
			}
			time.Sleep(20 * time.Millisecond)
		}

		stopDaemon(t, cmd, exited, stderr)
		if _, err := os.Stat(n.conflist()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("conflist still installed after SIGTERM with --cleanup-on-exit")
		}
		if _, err := os.Stat(filepath.Join(n.binDir, "meta-cni")); err != nil {
			t.Errorf("binaries must stay for pods still being deleted: %v", err)
		}
	})
}

// TestBuiltBinaryLogsJSONLines runs the daemon until it has installed, served
// /readyz and copied a rotated token, stops it, and requires every line of
// its stderr to be one JSON object with time, level and msg, and the keys
// the README promises on the lines it names.
func TestBuiltBinaryLogsJSONLines(t *testing.T) {
	bin := filepath.Join(testenv.MustCNIPath(t), "meta-cni-daemon")
	n := newNode(t)
	addr := freeAddress(t)
	cmd, exited, stderr := startDaemon(t, bin, n.args("--metrics-address="+addr, "--token-refresh-interval=50ms", "--log-level=debug")...)
	waitHTTP(t, "http://"+addr+"/readyz", exited, stderr)
	if err := os.WriteFile(n.token, []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "token rotated") {
		if time.Now().After(deadline) {
			t.Fatalf("no token rotation logged:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopDaemon(t, cmd, exited, stderr)

	byMsg := map[string]map[string]any{}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	for _, line := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("stderr line is not a JSON object: %v\n%s", err, line)
		}
		for _, key := range []string{"time", "level", "msg"} {
			if s, ok := obj[key].(string); !ok || s == "" {
				t.Errorf("line lacks a %q string: %s", key, line)
			}
		}
		byMsg[obj["msg"].(string)] = obj
	}
	for msg, keys := range map[string][]string{
		"installed":       {"path", "kubeconfig", "duration"},
		"serving metrics": {"address"},
		"token rotated":   {"path"},
		"stopping":        {"cause"},
	} {
		obj, ok := byMsg[msg]
		if !ok {
			t.Errorf("no %q line among %d lines:\n%s", msg, len(lines), stderr.String())
			continue
		}
		for _, k := range keys {
			if _, ok := obj[k]; !ok {
				t.Errorf("%q line lacks key %q: %v", msg, k, obj)
			}
		}
	}
}

func TestBadLogFlagsAreRefusedNamingTheFlag(t *testing.T) {
	for _, tc := range []struct {
		flags logFlags
		want  string
	}{
		{logFlags{format: "yaml", level: "info"}, "--log-format"},
		{logFlags{format: "json", level: "trace"}, "--log-level"},
	} {
		if _, err := tc.flags.newLogger(io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("newLogger(%+v) = %v, want an error naming %s", tc.flags, err, tc.want)
		}
	}
	var out bytes.Buffer
	log, err := logFlags{format: "text", level: "warn"}.newLogger(&out)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped")
	log.Warn("kept", "err", errors.New("boom"))
	if got := out.String(); strings.Contains(got, "dropped") || !strings.Contains(got, "level=WARN msg=kept err=boom") {
		t.Errorf("text logger at warn wrote %q", got)
	}
}

// startDaemon runs the daemon binary with args as the chart's pod would,
// in-cluster, and kills it at cleanup if it is still running.
func startDaemon(t *testing.T, bin string, args ...string) (*exec.Cmd, <-chan error, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	return cmd, exited, stderr
}

// stopDaemon sends SIGTERM and requires exit status 0 within 10s.
func stopDaemon(t *testing.T, cmd *exec.Cmd, exited <-chan error, stderr *lockedBuffer) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM\n%s", stderr.String())
	}
}

func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitHTTP polls url until it answers 200, failing early if the process exits.
func waitHTTP(t *testing.T, url string, exited <-chan error, stderr *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("daemon exited before %s was ready: %v\n%s", url, err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 20s\n%s", url, stderr.String())
		}
	}
}

// lockedBuffer collects a running process's stderr while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
