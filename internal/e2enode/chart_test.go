package e2enode

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/image"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// latencyPods is how many pods each pod-start measurement creates at once.
const latencyPods = 20

// longRun says whether the long parts run: the pod-start measurements
// (`make e2e-node` sets E2ENODE_LONG=1); `make test` keeps the short path.
func longRun() bool { return os.Getenv("E2ENODE_LONG") == "1" }

// chartInstalls: helm install of charts/meta-cni with the node image; on
// every node the daemon installs the plugins and a conflist that picked the
// cluster network by itself (clusterNetwork auto), copies the etcd
// endpoints, and reaches the API server in-cluster (through the
// "kubernetes" Service's ClusterIP): the IPAM reconciler's Lease shows it.
func chartInstalls(t *testing.T, c *realnode.Cluster) {
	if err := c.InstallChart(); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		conf, err := os.ReadFile(filepath.Join(n.CNIConfDir, realnode.ChartConfName))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(conf), "/etc/cni/net.d/10-cluster.conflist") {
			t.Errorf("node %s: %s does not name the cluster network /etc/cni/net.d/10-cluster.conflist:\n%s", n.Name, realnode.ChartConfName, conf)
		}
		for _, p := range image.NodePlugins {
			if fi, err := os.Lstat(filepath.Join(n.CNIBinDir, p)); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("node %s: plugin %s not installed in %s: %v", n.Name, p, n.CNIBinDir, err)
			}
		}
		eps, err := os.ReadFile(filepath.Join(n.CNIConfDir, "meta-cni.d", "etcd", "endpoints"))
		if want := strings.Join(c.IPAMEtcd.Endpoints(), ","); err != nil || strings.TrimSpace(string(eps)) != want {
			t.Errorf("node %s: etcd endpoints file holds %q (%v), want %q", n.Name, eps, err, want)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := c.Clientset().CoordinationV1().Leases(realnode.ChartNamespace).Get(context.Background(), "meta-cni-ipam-reconciler", metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			t.Logf("IPAM reconciler Lease held by %s", *l.Spec.HolderIdentity)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no daemon holds the Lease %s/meta-cni-ipam-reconciler after 60s (%v): the daemons do not reach the API server in-cluster", realnode.ChartNamespace, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// ratio is the p-th percentile of a over that of b.
func ratio(a, b map[string]time.Duration, p int) float64 {
	return float64(percentile(a, p)) / float64(percentile(b, p))
}

func percentile(m map[string]time.Duration, p int) time.Duration {
	var d []time.Duration
	for _, v := range m {
		d = append(d, v)
	}
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)*p/100]
}
