package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// EtcdBinary builds etcd from hack/tools/etcd (cached) and returns its path.
func EtcdBinary() (string, error) {
	return buildTool("etcd", "go.etcd.io/etcd/server/v3", "etcd")
}

// EtcdTLS holds the files that turn on client TLS for a member. With
// ClientCA set, clients must present a certificate signed by it.
type EtcdTLS struct {
	CertFile, KeyFile, ClientCA string
}

// EtcdMember is one real etcd server process.
type EtcdMember struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string

	bin          string
	initialPeers string
	clusterState string
	tls          *EtcdTLS
	server
}

// EtcdCluster is one or more members that form a cluster on loopback.
type EtcdCluster struct {
	Members []*EtcdMember
}

// Endpoints lists every member's client URL.
func (c *EtcdCluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// Stop kills every member that still runs.
func (c *EtcdCluster) Stop() {
	for _, m := range c.Members {
		m.Stop()
	}
}

// StartEtcdCluster starts n members in dir, each on free loopback ports, and
// waits until every one answers. tls, when not nil, serves clients over TLS.
func StartEtcdCluster(dir string, n int, tls *EtcdTLS) (*EtcdCluster, error) {
	bin, err := EtcdBinary()
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if tls != nil {
		scheme = "https"
	}
	c := &EtcdCluster{}
	var peers []string
	for i := 0; i < n; i++ {
		cp, err := FreePort()
		if err != nil {
			return nil, err
		}
		pp, err := FreePort()
		if err != nil {
			return nil, err
		}
		m := &EtcdMember{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, cp),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", pp),
			DataDir:   filepath.Join(dir, fmt.Sprintf("m%d", i)),
			bin:       bin,
			tls:       tls,
			server:    server{logFile: filepath.Join(dir, fmt.Sprintf("m%d.log", i))},
		}
		peers = append(peers, m.Name+"="+m.PeerURL)
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.initialPeers = strings.Join(peers, ",")
		m.clusterState = "new"
		if err := m.Start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for _, m := range c.Members {
		if err := m.waitHealthy(30 * time.Second); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// StartEtcd starts a single-member etcd that is stopped when the test ends.
func StartEtcd(t testing.TB) *EtcdCluster {
	t.Helper()
	return StartEtcdClusterT(t, 1, nil)
}

// StartEtcdClusterT is StartEtcdCluster for tests, with cleanup.
func StartEtcdClusterT(t testing.TB, n int, tls *EtcdTLS) *EtcdCluster {
	t.Helper()
	c, err := StartEtcdCluster(t.TempDir(), n, tls)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Start runs the member; after Stop it restarts it on the same ports and data.
func (m *EtcdMember) Start() error {
	if err := os.MkdirAll(filepath.Dir(m.logFile), 0o755); err != nil {
		return err
	}
	args := []string{
		"--name", m.Name,
		"--data-dir", m.DataDir,
		"--listen-client-urls", m.ClientURL,
		"--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", m.initialPeers,
		"--initial-cluster-state", m.clusterState,
		"--initial-cluster-token", "meta-cni-test",
		"--log-level", "warn",
		"--quota-backend-bytes", fmt.Sprint(1 << 30),
	}
	if m.tls != nil {
		args = append(args, "--cert-file", m.tls.CertFile, "--key-file", m.tls.KeyFile)
		if m.tls.ClientCA != "" {
			args = append(args, "--client-cert-auth", "--trusted-ca-file", m.tls.ClientCA)
		}
	}
	return m.start(m.bin, args)
}

// Stop kills the member and waits for it to exit; its data stays.
func (m *EtcdMember) Stop() { m.stop() }

// Running reports whether the member's process is alive.
func (m *EtcdMember) Running() bool { return m.running() }

func (m *EtcdMember) waitHealthy(timeout time.Duration) error {
	addr := strings.TrimPrefix(strings.TrimPrefix(m.ClientURL, "http://"), "https://")
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !m.Running() {
			return fmt.Errorf("etcd member %s exited; log %s:\n%s", m.Name, m.logFile, tail(m.logFile))
		}
		if dialable(addr) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("etcd member %s not listening on %s after %s; log:\n%s", m.Name, addr, timeout, tail(m.logFile))
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// EtcdProposals is how many raft proposals the cluster has committed, read
// from the first member that answers /metrics: every write, including a
// transaction whose guard failed.
func EtcdProposals(c *EtcdCluster) (int64, error) {
	var lastErr error
	for _, m := range c.Members {
		n, err := MetricValue(Scrape(m.ClientURL+"/metrics"), "etcd_server_proposals_committed_total")
		if err == nil && n >= 0 {
			return int64(n), nil
		}
		if err == nil {
			err = fmt.Errorf("%s/metrics has no etcd_server_proposals_committed_total", m.ClientURL)
		}
		lastErr = err
	}
	return 0, lastErr
}
