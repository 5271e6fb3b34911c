package realnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/meta-cni/meta-cni/internal/image"
	"github.com/meta-cni/meta-cni/internal/testenv"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The chart's release on a cluster: what InstallChart names, and the node
// image ref it runs (the tag is also the binaries' version).
const (
	ChartRelease   = "meta-cni"
	ChartNamespace = "kube-system"
	nodeImageRepo  = "localhost/meta-cni/meta-cni"
	nodeImageTag   = "e2e"
	NodeImage      = nodeImageRepo + ":" + nodeImageTag
	// ChartConfName is the conflist the chart's daemon writes on each node.
	ChartConfName = "00-meta-cni.conflist"
)

// NodeImages builds the node image (NodeImage) and the workload image into
// the shared cache, for Options.Images, and returns the tarballs and the
// workload's ref.
func NodeImages() (tarballs []string, workloadRef string, err error) {
	dir := filepath.Join(testenv.CacheDir(), "images")
	progressf("node image %s", NodeImage)
	node, err := image.Node(dir, NodeImage)
	if err != nil {
		return nil, "", err
	}
	progressf("workload image")
	work, ref, err := image.Workload(dir)
	if err != nil {
		return nil, "", err
	}
	return []string{node, work}, ref, nil
}

// InstallChart installs charts/meta-cni as a user would, with the helm of
// testenv: the node image NodeImage (imported on every node, so pullPolicy
// Never), the chart's default cniVersion (1.0.0, which containerd 1.6
// reads) and CNI dirs (each node's own, see defaultCNIDirs), in-cluster API access through the "kubernetes"
// Service's ClusterIP, and etcd.endpoints the cluster's IPAM etcd (with
// Options.Examples: examples/values-underlay.yaml and its etcd Secret's
// files instead, see chartValues). extra
// are more --set values. It returns once the DaemonSet is ready on every
// node and each node's conf dir holds ChartConfName.
func (c *Cluster) InstallChart(extra ...string) error {
	begin := time.Now()
	progressf("helm install %s (image %s)", ChartRelease, NodeImage)
	args := []string{"install", ChartRelease, filepath.Join(testenv.RepoRoot(), "charts", "meta-cni"),
		"--kubeconfig", c.Kubeconfig, "--namespace", ChartNamespace,
		"--set", "image.repository=" + nodeImageRepo, "--set", "image.tag=" + nodeImageTag, "--set", "image.pullPolicy=Never"}
	args = append(args, c.chartValues()...)
	for _, s := range extra {
		args = append(args, "--set", s)
	}
	if out, err := testenv.Helm(args...); err != nil {
		return fmt.Errorf("install chart: %w: %s", err, out)
	}
	if err := c.waitChart(3 * time.Minute); err != nil {
		return err
	}
	progressf("chart ready on %d node(s) in %s", len(c.Nodes), time.Since(begin).Round(100*time.Millisecond))
	return nil
}

// UninstallChart removes the release (the daemons leave their conflist:
// the chart's cleanupOnExit is off by default).
func (c *Cluster) UninstallChart() error {
	if out, err := testenv.Helm("uninstall", ChartRelease, "--kubeconfig", c.Kubeconfig, "--namespace", ChartNamespace, "--wait"); err != nil {
		return fmt.Errorf("uninstall chart: %w: %s", err, out)
	}
	return nil
}

func (c *Cluster) waitChart(timeout time.Duration) error {
	cs := c.Clientset()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ds, err := cs.AppsV1().DaemonSets(ChartNamespace).Get(context.Background(), ChartRelease, metav1.GetOptions{})
		switch {
		case err != nil:
			last = err.Error()
		case int(ds.Status.NumberReady) != len(c.Nodes):
			last = fmt.Sprintf("DaemonSet %s/%s: %d of %d ready", ChartNamespace, ChartRelease, ds.Status.NumberReady, len(c.Nodes))
		default:
			missing := ""
			for _, n := range c.Nodes {
				if _, err := os.Stat(filepath.Join(n.CNIConfDir, ChartConfName)); err != nil {
					missing += " " + n.Name
				}
			}
			if missing == "" {
				return nil
			}
			last = "no " + ChartConfName + " yet on" + missing
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("chart %s not ready after %s: %s", ChartRelease, timeout, last)
}
