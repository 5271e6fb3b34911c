package e2enode

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRealNode brings up the control plane and the nodes once, runs the
// cluster-network scenarios on them, installs the chart and runs issue 8's
// seed scenario through it; the teardown is checked at the end.
func TestRealNode(t *testing.T) {
	c, workload := startCluster(t)
	t.Run("NodesReportTheKubeVersion", func(t *testing.T) {
		nodes, err := c.Clientset().CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) != len(c.Nodes) {
			t.Fatalf("%d nodes registered, want %d", len(nodes.Items), len(c.Nodes))
		}
		for _, n := range nodes.Items {
			if v := n.Status.NodeInfo.KubeletVersion; v != "v1.34.4" {
				t.Errorf("node %s: kubelet version %q, want v1.34.4", n.Name, v)
			}
		}
	})
	t.Run("DeploymentRunsOnClusterNetworkAndDeleteReleasesAddresses", func(t *testing.T) {
		deploymentOnClusterNetwork(t, c)
	})
	spec := workloadDeployment("latency", workload, 1, "").Spec.Template.Spec
	var baseline map[string]time.Duration
	if longRun() {
		t.Run("PodStartLatencyClusterNetwork", func(t *testing.T) {
			baseline = podStartLatency(t, c, latencyPods, "cluster network only", spec, nil)
		})
	}
	if !t.Run("ChartInstallsOnEveryNode", func(t *testing.T) { chartInstalls(t, c) }) {
		return
	}
	t.Run("SeedScenario", func(t *testing.T) { seedScenario(t, c, workload) })
	if longRun() && baseline != nil {
		t.Run("PodStartLatencyMetaCNIMacvlan", func(t *testing.T) {
			createMacvlanNAD(t, c, "macvlan-latency", 120, 160)
			withNAD := podStartLatency(t, c, latencyPods, "meta-cni + macvlan/etcd-ipam/host-route", spec,
				map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-latency"})
			t.Logf("pod start latency ratio, meta-cni + macvlan over cluster network only: p50 %.2f, p90 %.2f",
				ratio(withNAD, baseline, 50), ratio(withNAD, baseline, 90))
		})
	}
}

// deploymentOnClusterNetwork: 2 pause pods get addresses from their node's
// pod subnet, host-local records them, and deleting the Deployment runs the
// CNI DEL, which removes those records.
func deploymentOnClusterNetwork(t *testing.T, c *realnode.Cluster) {
	cs := c.Clientset()
	ctx := context.Background()
	d := pauseDeployment("pause", 2)
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, cs, d.Spec.Selector.MatchLabels, 2, 60*time.Second)
	var files []string
	for _, p := range pods {
		n := nodeNamed(t, c, p.Spec.NodeName)
		_, subnet, _ := net.ParseCIDR(n.PodSubnet)
		if ip := net.ParseIP(p.Status.PodIP); !subnet.Contains(ip) {
			t.Errorf("pod %s on %s has IP %s, outside the node's pod subnet %s", p.Name, n.Name, ip, n.PodSubnet)
		}
		// Running with the token volume proves the kubelet mounted a
		// projected volume inside the node's private mount namespace.
		if !hasTokenVolume(p) {
			t.Errorf("pod %s has no kube-api-access volume: ServiceAccount admission is off", p.Name)
		}
		f := filepath.Join(n.IPAMDir, "cluster", p.Status.PodIP)
		if _, err := os.Stat(f); err != nil {
			t.Errorf("pod %s: host-local has no record of %s: %v", p.Name, p.Status.PodIP, err)
		}
		files = append(files, f)
	}
	t.Run("PodsRunUnderTheirNodesCgroup", func(t *testing.T) {
		for _, n := range c.Nodes {
			pids, err := n.TaskPIDs()
			if err != nil {
				t.Fatal(err)
			}
			for _, pid := range pids {
				cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(cg), ":/"+n.CgroupRoot+"/") {
					t.Errorf("node %s: task %d is outside the node's cgroup /%s, so teardown could miss it:\n%s", n.Name, pid, n.CgroupRoot, cg)
				}
			}
		}
	})
	t.Run("PodsReachEachOther", func(t *testing.T) {
		podsReachEachOther(t, c, pods[0], pods[1])
	})
	if err := cs.AppsV1().Deployments("default").Delete(ctx, d.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, cs, d.Spec.Selector.MatchLabels, 0, 60*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for _, f := range files {
		for {
			_, err := os.Stat(f)
			if os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("host-local record %s still there after its pod was deleted: the CNI DEL did not run", f)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// podsReachEachOther: a TCP echo from pod a to pod b over the cluster
// network, across the fabric when they are on different nodes.
func podsReachEachOther(t *testing.T, c *realnode.Cluster, a, b corev1.Pod) {
	if len(c.Nodes) > 1 && a.Spec.NodeName == b.Spec.NodeName {
		t.Logf("both pods on %s: the path stays on one node", a.Spec.NodeName)
	}
	from, err := nodeNamed(t, c, a.Spec.NodeName).PodNetNS(a.Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	to, err := nodeNamed(t, c, b.Spec.NodeName).PodNetNS(b.Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	addr := net.JoinHostPort(b.Status.PodIP, "7007")
	srv := testenv.StartEcho(t, to, addr)
	if err := testenv.Echo(from, addr, 5*time.Second); err != nil {
		t.Fatalf("pod %s (%s on %s) to pod %s (%s on %s): %v", a.Name, a.Status.PodIP, a.Spec.NodeName, b.Name, b.Status.PodIP, b.Spec.NodeName, err)
	}
	if got := srv.Clients(); len(got) != 1 || got[0] != a.Status.PodIP {
		t.Errorf("echo server saw clients %v, want the pod's own address %s (no NAT on the cluster network)", got, a.Status.PodIP)
	}
}

// spread is "min, p50, p90, max" of the durations.
func spread(m map[string]time.Duration) string {
	var d []time.Duration
	for _, v := range m {
		d = append(d, v.Round(10*time.Millisecond))
	}
	if len(d) == 0 {
		return "none"
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return fmt.Sprintf("min %s, p50 %s, p90 %s, max %s", d[0], d[len(d)/2], d[len(d)*9/10], d[len(d)-1])
}

func hasTokenVolume(p corev1.Pod) bool {
	for _, v := range p.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") && v.Projected != nil {
			return true
		}
	}
	return false
}

func nodeNamed(t *testing.T, c *realnode.Cluster, name string) *realnode.Node {
	t.Helper()
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("pod on unknown node %q", name)
	return nil
}

// podStartLatency creates n pods of spec with annotations at once and
// logs and returns the create → Running latencies (issue 8, "Measure").
// Running is taken from a watch, since the pods' own timestamps have whole
// seconds only. what names the run in the log.
func podStartLatency(t *testing.T, c *realnode.Cluster, n int, what string, spec corev1.PodSpec, annotations map[string]string) map[string]time.Duration {
	cs := c.Clientset()
	ctx := context.Background()
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=latency"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("latency-%02d", i), Labels: map[string]string{"app": "latency"}, Annotations: annotations},
				Spec:       *spec.DeepCopy(),
			}
			mu.Lock()
			created[pod.Name] = time.Now()
			mu.Unlock()
			if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	running, scheduled := map[string]time.Duration{}, map[string]time.Duration{}
	timeout := time.After(180 * time.Second)
	for len(running) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("pod watch closed")
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			mu.Lock()
			if _, seen := scheduled[p.Name]; !seen && p.Spec.NodeName != "" {
				scheduled[p.Name] = time.Since(created[p.Name])
			}
			if _, seen := running[p.Name]; !seen && p.Status.Phase == corev1.PodRunning {
				running[p.Name] = time.Since(created[p.Name])
			}
			mu.Unlock()
		case <-timeout:
			t.Fatalf("%d of %d pods Running after 180s", len(running), n)
		}
	}
	t.Logf("pod start latency, %d pods created at once on %d node(s), %s: create → Running %s; create → scheduled %s",
		n, len(c.Nodes), what, spread(running), spread(scheduled))
	if err := cs.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app=latency"}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, cs, map[string]string{"app": "latency"}, 0, 120*time.Second)
	return running
}
