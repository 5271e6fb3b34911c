package realnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/meta-cni/meta-cni/internal/image"
	"github.com/meta-cni/meta-cni/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// NodeImageAt builds the node image tagged tag (its binaries report tag
// as their version, see image.Node) into the shared cache and returns the
// tarball and the ref, for ImportImage and UpgradeChart: an upgrade test's
// second release.
func NodeImageAt(tag string) (tarball, ref string, err error) {
	ref = nodeImageRepo + ":" + tag
	progressf("node image %s", ref)
	tarball, err = image.Node(filepath.Join(testenv.CacheDir(), "images"), ref)
	return tarball, ref, err
}

// ImportImage imports a docker-archive tarball into every node's
// containerd, as an operator's registry pull would make it present.
func (c *Cluster) ImportImage(tarball string) error {
	for _, n := range c.Nodes {
		progressf("%s: importing %s", n.Name, filepath.Base(tarball))
		if out, err := exec.Command("ctr", "-a", n.CRISocket, "-n", "k8s.io", "images", "import", tarball).CombinedOutput(); err != nil {
			return fmt.Errorf("node %s: import image %s: %w: %s", n.Name, tarball, err, out)
		}
	}
	return nil
}

// UpgradeChart runs `helm upgrade` of the release with the values it has
// (--reuse-values) and extra --set values, e.g. "image.tag=e2e-next". It
// returns once every node runs a new daemon that is Ready (none of the
// daemon pods from before is left) and each node's conf dir holds
// ChartConfName.
func (c *Cluster) UpgradeChart(extra ...string) error {
	begin := time.Now()
	old, err := c.DaemonPods()
	if err != nil {
		return err
	}
	progressf("helm upgrade %s %v", ChartRelease, extra)
	args := []string{"upgrade", ChartRelease, filepath.Join(testenv.RepoRoot(), "charts", "meta-cni"),
		"--kubeconfig", c.Kubeconfig, "--namespace", ChartNamespace, "--reuse-values"}
	for _, s := range extra {
		args = append(args, "--set", s)
	}
	if out, err := testenv.Helm(args...); err != nil {
		return fmt.Errorf("upgrade chart: %w: %s", err, out)
	}
	if err := c.WaitDaemonsReplaced(old, 3*time.Minute); err != nil {
		return err
	}
	progressf("chart upgraded on %d node(s) in %s", len(c.Nodes), time.Since(begin).Round(100*time.Millisecond))
	return nil
}

// DaemonPods are the names of the chart's daemon pods now.
func (c *Cluster) DaemonPods() ([]string, error) {
	pods, err := c.daemonPods()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names, nil
}

// RestartDaemons deletes the chart's daemon pods, as `kubectl delete pod`
// does (graceful: the daemon gets SIGTERM), and returns their names; the
// DaemonSet makes new ones (WaitDaemonsReplaced).
func (c *Cluster) RestartDaemons() ([]string, error) {
	old, err := c.DaemonPods()
	if err != nil {
		return nil, err
	}
	for _, name := range old {
		if err := c.Clientset().CoreV1().Pods(ChartNamespace).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			return nil, fmt.Errorf("delete daemon pod %s/%s: %w", ChartNamespace, name, err)
		}
	}
	progressf("deleted daemon pods %v", old)
	return old, nil
}

// WaitDaemonsReplaced waits until every node runs a daemon pod that is
// not one of old and is Ready, no pod of old is left, and each node's
// conf dir holds ChartConfName.
func (c *Cluster) WaitDaemonsReplaced(old []string, timeout time.Duration) error {
	gone := map[string]bool{}
	for _, n := range old {
		gone[n] = true
	}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		pods, err := c.daemonPods()
		if err != nil {
			last = err.Error()
			time.Sleep(250 * time.Millisecond)
			continue
		}
		nodes := map[string]bool{}
		var stale, notReady []string
		for _, p := range pods {
			switch {
			case gone[p.Name]:
				stale = append(stale, p.Name)
			case !podReady(p):
				notReady = append(notReady, p.Name)
			default:
				nodes[p.Spec.NodeName] = true
			}
		}
		if len(stale) == 0 && len(nodes) == len(c.Nodes) {
			return c.waitChart(timeout)
		}
		last = fmt.Sprintf("new daemons Ready on %d of %d nodes; old pods left %v; not Ready %v", len(nodes), len(c.Nodes), stale, notReady)
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("daemons of %s not replaced after %s: %s", ChartRelease, timeout, last)
}

func (c *Cluster) daemonPods() ([]corev1.Pod, error) {
	ctx := context.Background()
	ds, err := c.Clientset().AppsV1().DaemonSets(ChartNamespace).Get(ctx, ChartRelease, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get DaemonSet %s/%s: %w", ChartNamespace, ChartRelease, err)
	}
	sel := labels.SelectorFromSet(ds.Spec.Selector.MatchLabels).String()
	pods, err := c.Clientset().CoreV1().Pods(ChartNamespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list daemon pods %s in %s: %w", sel, ChartNamespace, err)
	}
	return pods.Items, nil
}

func podReady(p corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeLogs is what the node's kubelet and containerd logged, for a test
// that looks for errors the API's Events do not carry.
func (n *Node) NodeLogs() (string, error) {
	var b strings.Builder
	for _, f := range []string{"kubelet.log", "containerd.log"} {
		out, err := os.ReadFile(n.path(f))
		if err != nil {
			return "", fmt.Errorf("node %s: %w", n.Name, err)
		}
		b.Write(out)
	}
	return b.String(), nil
}

// PluginLog is the host path of the node's /var/log/meta-cni.log, where
// the chart's plugins log (config.logFile).
func (n *Node) PluginLog() string { return n.path("var-log", "meta-cni.log") }
