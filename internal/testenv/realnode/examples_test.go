package realnode

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// TestExamplesClusterInstallsWithTheExamplesValues: with Options.Examples
// the chart gets examples/values-underlay.yaml and the Secret's files, and
// keeps its etcd.endpoints (the underlay's 10.10.20.152); the cluster
// network is the values file's cbr0. Without it, nothing of that.
func TestExamplesClusterInstallsWithTheExamplesValues(t *testing.T) {
	c := &Cluster{Name: "mcni-abc123", Dir: t.TempDir(), Examples: true,
		IPAMEtcd: &testenv.EtcdCluster{Members: []*testenv.EtcdMember{{ClientURL: "https://127.0.0.1:2379"}}}}
	var err error
	if c.examples, err = newExamplesPKI(filepath.Join(c.Dir, "pki")); err != nil {
		t.Fatal(err)
	}
	args := strings.Join(c.chartValues(), " ")
	for _, want := range []string{"-f " + filepath.Join(testenv.RepoRoot(), ExamplesValues), "--set-file etcd.tls.ca=", "--set-file etcd.tls.cert=", "--set-file etcd.tls.key="} {
		if !strings.Contains(args, want) {
			t.Errorf("chart args %q lack %q", args, want)
		}
	}
	if strings.Contains(args, "etcd.endpoints") {
		t.Errorf("chart args %q override the values file's etcd.endpoints", args)
	}
	if n := c.newNode(0); n.ClusterNetwork != "cbr0" {
		t.Errorf("cluster network %q, want cbr0 as %s names it", n.ClusterNetwork, ExamplesValues)
	}
	if _, err := c.examples.clientTLS(); err != nil {
		t.Error(err)
	}
	c.Examples = false
	if args := strings.Join(c.chartValues(), " "); args != "--set etcd.endpoints={https://127.0.0.1:2379}" {
		t.Errorf("chart args without Examples: %q", args)
	}
	if n := c.newNode(0); n.ClusterNetwork != "cluster" {
		t.Errorf("cluster network %q without Examples, want cluster", n.ClusterNetwork)
	}
}
