package e2enode

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/meta-cni/meta-cni/internal/image"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	"github.com/vishvananda/netlink"
)

// nextTag is the upgrade's image tag, and so its binaries' version; the
// cluster starts on realnode.NodeImage, whose tag is "e2e".
const nextTag = "e2e-next"

// TestUpgradeAndUninstall is issue 8's scenario 6. `helm upgrade` to a
// node image of another version, while pods are being created, replaces
// the plugins in every node's CNI bin dir (they report the new version)
// with no ADD failing over a busy or half-written binary, and no pod runs
// without its networks. Then `helm uninstall` leaves what
// cmd/meta-cni-daemon/README.md promises (--cleanup-on-exit is off by
// default; binaries and credentials are never removed, because pods still
// being deleted need them), so the running pods' DEL still works: their
// etcd-ipam addresses go back and host-route's links, routes and tables
// leave the node.
func TestUpgradeAndUninstall(t *testing.T) {
	c, _ := startCluster(t)
	next, nextRef, err := realnode.NodeImageAt(nextTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ImportImage(next); err != nil {
		t.Fatal(err)
	}
	if err := c.InstallChart(); err != nil {
		t.Fatal(err)
	}
	createMacvlanNAD(t, c, seedNAD, 100, 199)
	installedVersions(t, c, "e2e")
	w := watchPods(t, c, "up")

	steady := createPods(t, w, "before", createEvery, 3, 3, nil)
	all := checkPhase(t, c, w, "before", steady)
	all = append(all, disrupt(t, c, w, "upgrade", func() error {
		t.Logf("helm upgrade to %s", nextRef)
		return c.UpgradeChart("image.tag=" + nextTag)
	})...)
	installedVersions(t, c, nextTag)

	// A binary replaced while the runtime execs it is what "text file
	// busy" (ETXTBSY) comes from; the daemon renames a new file over it.
	for _, n := range c.Nodes {
		logs, err := n.NodeLogs()
		if err != nil {
			t.Fatal(err)
		}
		plugin, _ := os.ReadFile(n.PluginLog())
		if strings.Contains(logs+string(plugin), "text file busy") {
			t.Errorf("node %s: a plugin exec failed with \"text file busy\" during the upgrade", n.Name)
		}
	}
	for _, f := range sandboxFailures(t, c, "up-") {
		t.Logf("sandbox failure: %s", f)
		if !retryable(f) {
			t.Errorf("a pod ADD failed during the upgrade with other than the daemon's short absence: %s", f)
		}
	}

	if err := c.UninstallChart(); err != nil {
		t.Fatal(err)
	}
	leftAfterUninstall(t, c)
	held := 0
	for _, n := range c.Nodes {
		held += len(hostRouteState(t, n))
	}
	if held == 0 {
		t.Errorf("no host-route state on any node while %d pods run: the check after their DEL would prove nothing", len(all))
	}
	t.Logf("after uninstall, %d pods still run; host-route holds %d links, routes and tables for them", len(all), held)
	all = append(all, newPodFailsClosed(t, c, w))
	deletePods(t, c, all)
	for _, n := range c.Nodes {
		if left := hostRouteState(t, n); len(left) > 0 {
			t.Errorf("node %s: host-route state left after every pod was deleted: %v", n.Name, left)
		}
	}
}

// installedVersions checks that every plugin in every node's CNI bin dir
// says it is version: a plugin run with no CNI_COMMAND prints
// "<name> <version>: ..." (pkg/release).
func installedVersions(t *testing.T, c *realnode.Cluster, version string) {
	t.Helper()
	for _, n := range c.Nodes {
		for _, p := range image.NodePlugins {
			cmd := exec.Command(filepath.Join(n.CNIBinDir, p))
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), p+" "+version+": ") {
				t.Errorf("node %s: %s in %s says %q (%v), want version %s", n.Name, p, n.CNIBinDir, out, err, version)
			}
		}
	}
}

// leftAfterUninstall checks what the daemon's README promises stays on a
// node after the DaemonSet is gone: the binaries, the plugin's
// credentials and etcd files, and (with --cleanup-on-exit off, the
// chart's default) meta-cni's conflist.
func leftAfterUninstall(t *testing.T, c *realnode.Cluster) {
	t.Helper()
	for _, n := range c.Nodes {
		want := []string{filepath.Join(n.CNIConfDir, realnode.ChartConfName)}
		for _, p := range image.NodePlugins {
			want = append(want, filepath.Join(n.CNIBinDir, p))
		}
		for _, f := range []string{"token", "ca.crt", "meta-cni.kubeconfig", "etcd/endpoints"} {
			want = append(want, filepath.Join(n.CNIConfDir, "meta-cni.d", f))
		}
		for _, f := range want {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("node %s: helm uninstall removed %s, which running pods' DEL needs: %v", n.Name, f, err)
			}
		}
	}
}

// hostRouteState is what host-route leaves on a node for a pod until its
// DEL: "hr…" veths, /32 routes to macvlan addresses, meta_cni_hr_ tables.
func hostRouteState(t *testing.T, n *realnode.Node) []string {
	t.Helper()
	netns, err := ns.GetNS("/run/netns/" + n.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	defer netns.Close()
	var left []string
	_ = netns.Do(func(ns.NetNS) error {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, "hr") {
				left = append(left, "link "+l.Attrs().Name)
			}
		}
		routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range routes {
			if r.Dst != nil && contains(seedIPs(100, 199), r.Dst.IP.String()) {
				left = append(left, "route "+r.Dst.String())
			}
		}
		return nil
	})
	out, err := exec.Command("ip", "netns", "exec", n.NetNS, "nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: nft list tables: %v: %s", n.Name, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "meta_cni_hr_") {
			left = append(left, line)
		}
	}
	return left
}

// newPodFailsClosed creates a pod asking for the seed network after the
// chart is gone. meta-cni's conflist stays, so the runtime still calls
// meta-cni; with no daemon and its token dead, the ADD must fail with the
// daemon's "try again" (the kubelet keeps retrying), never give the pod
// eth0 alone.
func newPodFailsClosed(t *testing.T, c *realnode.Cluster, w *podWatch) string {
	t.Helper()
	name := createPods(t, w, "uninstalled", 0, 1, 1, nil)[0]
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if f := sandboxFailures(t, c, name); len(f) > 0 {
			if !retryable(f[0]) {
				t.Errorf("a pod created after helm uninstall failed with other than the daemon's absence: %s", f[0])
			}
			t.Logf("after uninstall, a new pod is refused: %s", f[0])
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("pod %s, created after helm uninstall, has no FailedCreatePodSandBox after 2m", name)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	checkRuns(t, w.snapshot("uninstalled"))
	return name
}
