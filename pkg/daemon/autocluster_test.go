package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// autoConflist is the chart's default: no clusterNetwork, no delegates.
const autoConflist = `{
  "cniVersion": "1.1.0",
  "name": "meta-cni",
  "plugins": [{"type": "meta-cni", "kubeconfig": "/from/the/chart", "capabilities": {"bandwidth": true}}]
}`

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newAutoFixture is a node whose chart conflist leaves the cluster network
// to the daemon, with the daemon's log kept for the test to read.
func newAutoFixture(t *testing.T, mutate ...func(*Config)) (*fixture, *syncBuffer) {
	t.Helper()
	f := newFixture(t, mutate...)
	writeFile(t, f.cfg.ConfFile, autoConflist, 0o644)
	logs := &syncBuffer{}
	f.d.log = slog.New(slog.NewTextHandler(io.MultiWriter(logs, t.Output()), nil))
	return f, logs
}

// clusterNetworkOf is what the installed conflist names as clusterNetwork,
// "" while there is none.
func clusterNetworkOf(t *testing.T, f *fixture) string {
	t.Helper()
	if _, err := os.Stat(f.conflistPath()); errors.Is(err, os.ErrNotExist) {
		return ""
	}
	s, _ := installedPlugin(t, f)["clusterNetwork"].(string)
	return s
}

func waitClusterNetwork(t *testing.T, f *fixture, want string) {
	t.Helper()
	waitFor(t, "conflist naming "+want, func() bool { return clusterNetworkOf(t, f) == want })
}

// writeConf writes a conf the way an installer does: in place, not renamed.
func writeConf(t *testing.T, f *fixture, name, content string) {
	t.Helper()
	writeFile(t, filepath.Join(f.cfg.CNIConfDir, name), content, 0o644)
}

func removeConf(t *testing.T, f *fixture, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(f.cfg.CNIConfDir, name)); err != nil {
		t.Fatal(err)
	}
}

func TestAutoClusterNetworkIsWaitedForThenFollowed(t *testing.T) {
	// No token refresh tick during the test: only the conf dir's watch can
	// make the daemon see a change.
	f, logs := newAutoFixture(t, func(c *Config) { c.TokenRefreshInterval = time.Hour })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	waitFor(t, "the waiting log line", func() bool { return strings.Contains(logs.String(), "waiting for the cluster network's conf") })
	line := logs.String()
	for _, want := range []string{"dir=" + hostConfDir, "skip=00-meta-cni.conflist", "timeout=10s"} {
		if !strings.Contains(line, want) {
			t.Errorf("waiting log does not say %q:\n%s", want, line)
		}
	}
	if _, err := os.Stat(f.conflistPath()); !errors.Is(err, os.ErrNotExist) || f.d.Ready() {
		t.Fatalf("conflist installed (stat %v) or ready %v before any cluster network conf exists", err, f.d.Ready())
	}
	// The binaries and credentials are in place while the daemon waits.
	if _, err := os.Stat(f.credPath("meta-cni.kubeconfig")); err != nil {
		t.Errorf("credentials not installed while waiting: %v", err)
	}

	t.Run("a bridge conflist appears and is named", func(t *testing.T) {
		writeConf(t, f, "10-bridge.conflist", bridgeConf)
		waitClusterNetwork(t, f, hostConfDir+"/10-bridge.conflist")
		waitFor(t, "ready", f.d.Ready)
		if !strings.Contains(logs.String(), "cluster network conf appeared") {
			t.Errorf("no log line saying the wait ended:\n%s", logs.String())
		}
		p := installedPlugin(t, f)
		if p["kubeconfig"] != hostConfDir+"/meta-cni.d/meta-cni.kubeconfig" {
			t.Errorf("kubeconfig %v", p["kubeconfig"])
		}
	})
	t.Run("a conf sorting first replaces it", func(t *testing.T) {
		writeConf(t, f, "05-calico.conflist", portmapChain)
		waitClusterNetwork(t, f, hostConfDir+"/05-calico.conflist")
		caps, _ := installedPlugin(t, f)["capabilities"].(map[string]any)
		if caps["portMappings"] != true || caps["bandwidth"] != true {
			t.Errorf("capabilities %v, want the chart's bandwidth and calico's portMappings", caps)
		}
	})
	t.Run("the cluster CNI upgraded declares other capabilities", func(t *testing.T) {
		writeConf(t, f, "05-calico.conflist", strings.Replace(portmapChain, `"portMappings":true`, `"portMappings":true,"io.kubernetes.cri.pod-annotations":true`, 1))
		waitFor(t, "the new capability", func() bool {
			caps, _ := installedPlugin(t, f)["capabilities"].(map[string]any)
			return caps["io.kubernetes.cri.pod-annotations"] == true
		})
	})
	t.Run("removed, the next conf is named", func(t *testing.T) {
		removeConf(t, f, "05-calico.conflist")
		waitClusterNetwork(t, f, hostConfDir+"/10-bridge.conflist")
	})
	t.Run("with no conf left the conflist is kept", func(t *testing.T) {
		removeConf(t, f, "10-bridge.conflist")
		waitFor(t, "the log line", func() bool { return strings.Contains(logs.String(), "no cluster network conf left") })
		if got := clusterNetworkOf(t, f); got != hostConfDir+"/10-bridge.conflist" {
			t.Errorf("conflist names %q, want it kept naming the last conf", got)
		}
	})
	t.Run("a new conf after that is named", func(t *testing.T) {
		writeConf(t, f, "20-flat.conf", singleConf)
		waitClusterNetwork(t, f, hostConfDir+"/20-flat.conf")
	})
	t.Run("meta-cni's confs, under any name, are never chosen", func(t *testing.T) {
		writeConf(t, f, "01-meta-cni-old.conflist", ownConflist)
		writeConf(t, f, ".meta-cni-daemon-00-meta-cni.conflist-1", ownConflist)
		f.d.syncClusterConf()
		if got := clusterNetworkOf(t, f); got != hostConfDir+"/20-flat.conf" {
			t.Errorf("conflist names %q, want 20-flat.conf still", got)
		}
	})
}

func TestAutoClusterNetworkWaitEndsAtTheBoundWithAnErrorNamingTheDir(t *testing.T) {
	for _, once := range []bool{false, true} {
		t.Run(map[bool]string{false: "daemon", true: "once"}[once], func(t *testing.T) {
			f, logs := newAutoFixture(t, func(c *Config) { c.ClusterNetworkTimeout = 300 * time.Millisecond; c.Once = once })
			// A conf that does not parse is no cluster network either.
			writeConf(t, f, "10-half.conflist", `{"cniVersion":`)
			start := time.Now()
			err := f.d.Run(t.Context())
			var te *ClusterNetworkTimeoutError
			if !errors.As(err, &te) {
				t.Fatalf("Run = %v, want a ClusterNetworkTimeoutError", err)
			}
			if waited := time.Since(start); waited < 300*time.Millisecond || waited > 5*time.Second {
				t.Errorf("gave up after %s, want about 300ms", waited)
			}
			for _, want := range []string{"in " + hostConfDir + " after", "config.clusterNetwork", "10-half.conflist"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if _, err := os.Stat(f.conflistPath()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("conflist installed although no cluster network conf appeared: %v", err)
			}
			if !strings.Contains(logs.String(), "waiting for the cluster network's conf") {
				t.Errorf("no waiting log line:\n%s", logs.String())
			}
		})
	}
}

func TestAutoClusterNetworkWarnsWhenItsConfShadowsMetaCNIs(t *testing.T) {
	f, logs := newAutoFixture(t)
	writeConf(t, f, "00-cilium.conflist", bridgeConf)
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	if got := clusterNetworkOf(t, f); got != hostConfDir+"/00-cilium.conflist" {
		t.Errorf("conflist names %q", got)
	}
	if !strings.Contains(logs.String(), "sorts before meta-cni's") {
		t.Errorf("no warning that the runtime loads 00-cilium.conflist first:\n%s", logs.String())
	}
}
