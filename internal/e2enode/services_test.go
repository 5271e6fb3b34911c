package e2enode

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/meta-cni/meta-cni/internal/image"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestServicesFromTheUnderlay is issue 8's scenario 2. kube-proxy runs on
// every node; a pod whose default network is a macvlan (eth0 on the
// underlay, its default route on the wire) reaches a ClusterIP Service
// through kube-proxy's rules, and its own node, because host-route gave it
// a path to the node; the same pod on a NAD without host-route reaches
// neither. The machine's own netfilter and host-wide values stay as they
// were. The kubelets are reachable from the API server, so logs and exec
// work too.
func TestServicesFromTheUnderlay(t *testing.T) {
	machineNetfilterUnchanged(t)
	c, workload := startCluster(t)
	t.Run("KubeProxyServesTheKubernetesService", func(t *testing.T) { kubernetesServiceServed(t, c) })
	if !t.Run("ChartInstallsOnEveryNode", func(t *testing.T) { chartInstalls(t, c) }) {
		return
	}
	backends, svcIP := serviceWithBackends(t, c, workload)
	createUnderlayNAD(t, c, "underlay-hr", 150, 159, true)
	createUnderlayNAD(t, c, "underlay-plain", 160, 169, false)
	withRoute := underlayPod(t, c, "client-hr", workload, "underlay-hr")
	plain := underlayPod(t, c, "client-plain", workload, "underlay-plain")
	svc := net.JoinHostPort(svcIP, "80")
	t.Run("HostRoutePodReachesServiceAndItsNode", func(t *testing.T) {
		p := withRoute
		node := nodeNamed(t, c, p.Spec.NodeName)
		assertDefaultRouteOnTheWire(t, c, p)
		assertKubeProxyRule(t, node, svcIP)
		start := time.Now()
		r := dialUntil(t, c, p, svc, "http", 30*time.Second)
		t.Logf("pod %s (%s on %s) → Service %s: first answer after %s", p.Name, p.Status.PodIP, node.Name, svc, time.Since(start).Round(10*time.Millisecond))
		if host, _, _ := net.SplitHostPort(r.Local); host != p.Status.PodIP {
			t.Errorf("pod dialled the Service from %s, want its underlay address %s", r.Local, p.Status.PodIP)
		}
		// Every backend answers, on this node or across the fabric.
		seen := map[string]int{}
		var ms []float64
		for i := 0; i < 20; i++ {
			if i > 0 {
				r = dialFrom(t, c, p, svc, "http")
			}
			var id struct {
				Hostname string `json:"hostname"`
			}
			if !r.OK || json.Unmarshal([]byte(r.Body), &id) != nil || !slices.Contains(backends, id.Hostname) {
				t.Fatalf("Service %s answered ok=%v %q (%s), want the identity of one of its backends %v", svc, r.OK, r.Body, r.Error, backends)
			}
			seen[id.Hostname]++
			ms = append(ms, r.Millis)
		}
		if len(seen) != len(backends) {
			t.Errorf("20 requests to Service %s reached only %v of its backends %v", svc, seen, backends)
		}
		slices.Sort(ms)
		t.Logf("20 requests through the ClusterIP: answers per backend %v, median %.1f ms, max %.1f ms", seen, ms[len(ms)/2], ms[len(ms)-1])
		kubelet := net.JoinHostPort(node.IP, "10250")
		if r := dialFrom(t, c, p, kubelet, "tcp"); !r.OK {
			t.Errorf("pod %s on %s cannot reach its node's kubelet at %s: %s", p.Name, node.Name, kubelet, r.Error)
		}
	})
	t.Run("WithoutHostRouteNeitherIsReachable", func(t *testing.T) {
		p := plain
		node := nodeNamed(t, c, p.Spec.NodeName)
		assertDefaultRouteOnTheWire(t, c, p)
		// The pod itself works: it reaches the other underlay pod over the wire.
		peer := net.JoinHostPort(withRoute.Status.PodIP, fmt.Sprint(image.WorkloadPort))
		if r := dialFrom(t, c, p, peer, "http"); !r.OK {
			t.Fatalf("control pod %s cannot even reach pod %s on the underlay: %s", p.Name, peer, r.Error)
		}
		for _, addr := range []string{svc, net.JoinHostPort(node.IP, "10250")} {
			r := dialFrom(t, c, p, addr, "tcp")
			if r.OK {
				t.Errorf("pod %s without host-route reached %s: the control case must fail", p.Name, addr)
				continue
			}
			if !unreachable.MatchString(r.Error) {
				t.Errorf("pod %s without host-route → %s failed with %q, want a timeout or unreachable (the packets leave on the wire and go nowhere)", p.Name, addr, r.Error)
			}
			t.Logf("pod %s without host-route → %s: %s after %.0f ms", p.Name, addr, r.Error, r.Millis)
		}
	})
	t.Run("LogsAndExecReachTheKubelet", func(t *testing.T) { logsAndExec(t, c, withRoute) })
}

// unreachable is how a dial fails when its packets get no answer: ARP for
// the underlay's gateway fails, or the dial times out.
var unreachable = regexp.MustCompile(`i/o timeout|no route to host|network is unreachable|deadline exceeded`)

// kubernetesServiceServed: the API server advertises its fabric address,
// so the "kubernetes" Service has that endpoint, and each node's
// kube-proxy has a rule for its ClusterIP. (The chart's daemons then reach
// the API server in-cluster through it: ChartInstallsOnEveryNode.)
func kubernetesServiceServed(t *testing.T, c *realnode.Cluster) {
	ctx := context.Background()
	es, err := c.Clientset().DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"})
	if err != nil {
		t.Fatal(err)
	}
	var eps []string
	for _, s := range es.Items {
		for _, e := range s.Endpoints {
			for _, p := range s.Ports {
				eps = append(eps, fmt.Sprintf("%s:%d", strings.Join(e.Addresses, ","), *p.Port))
			}
		}
	}
	u, _ := url.Parse(c.Kube.URL)
	if want := realnode.ControlPlaneIP + ":" + u.Port(); len(eps) != 1 || eps[0] != want {
		t.Errorf("the kubernetes Service's endpoints are %v, want [%s] (the API server's fabric address)", eps, want)
	}
	for _, n := range c.Nodes {
		assertKubeProxyRule(t, n, "10.96.0.1")
	}
}

// serviceWithBackends runs 2 workload pods on the cluster network behind a
// ClusterIP Service (port 80 → the workload's port), waits until its
// EndpointSlice has both ready, and returns the pods' names and the
// ClusterIP.
func serviceWithBackends(t *testing.T, c *realnode.Cluster, workload string) ([]string, string) {
	t.Helper()
	cs := c.Clientset()
	ctx := context.Background()
	d := workloadDeployment("backend", workload, 2, "")
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "backend", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: d.Spec.Selector.MatchLabels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(image.WorkloadPort)}},
		},
	}
	svc, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, cs, d.Spec.Selector.MatchLabels, 2, 120*time.Second)
	var names, where []string
	for _, p := range pods {
		names = append(names, p.Name)
		where = append(where, p.Name+" on "+p.Spec.NodeName)
	}
	t.Logf("Service backend %s: %s", svc.Spec.ClusterIP, strings.Join(where, ", "))
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := 0
		es, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=backend"})
		if err == nil {
			for _, s := range es.Items {
				for _, e := range s.Endpoints {
					if e.Conditions.Ready != nil && *e.Conditions.Ready {
						ready++
					}
				}
			}
		}
		if ready == 2 {
			return names, svc.Spec.ClusterIP
		}
		if time.Now().After(deadline) {
			t.Fatalf("Service backend: %d of 2 endpoints ready after 60s (%v)", ready, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// createUnderlayNAD is a macvlan network on the nodes' uplink whose
// etcd-ipam addresses .from–.to come with a default route via the
// subnet's gateway, so a pod with it as default network sends everything
// to the wire; with hostRoute, host-route adds the path to the node and
// the Service CIDR.
func createUnderlayNAD(t *testing.T, c *realnode.Cluster, name string, from, to byte, hostRoute bool) {
	t.Helper()
	_, subnet, _ := net.ParseCIDR(realnode.MacvlanSubnet)
	base := subnet.IP.To4()
	plugins := fmt.Sprintf(`{"type": "macvlan", "master": %q, "mode": "bridge",
   "ipam": {"type": "etcd-ipam", "subnet": %q, "rangeStart": "%s", "rangeEnd": "%s", "routes": [{"dst": "0.0.0.0/0"}],
            "etcd": {"endpointsFile": "/etc/cni/net.d/meta-cni.d/etcd/endpoints"}}}`,
		realnode.MacvlanMaster, realnode.MacvlanSubnet, seedIP(base, from), seedIP(base, to))
	if hostRoute {
		plugins += fmt.Sprintf(`,
  {"type": "host-route", "hostInterface": %q, "serviceCIDRs": ["10.96.0.0/12"]}`, realnode.MacvlanMaster)
	}
	nad := &nadv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       nadv1.NetworkAttachmentDefinitionSpec{Config: fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [%s]}`, name, plugins)},
	}
	if _, err := c.Kube.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions("default").Create(context.Background(), nad, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create NAD %s: %v", name, err)
	}
}

// underlayPod runs a workload pod whose default network (eth0) is the NAD
// and returns it Running.
func underlayPod(t *testing.T, c *realnode.Cluster, name, workload, nad string) corev1.Pod {
	t.Helper()
	spec := workloadDeployment(name, workload, 1, "").Spec.Template.Spec
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name},
			Annotations: map[string]string{"v1.multus-cni.io/default-network": "default/" + nad}},
		Spec: spec,
	}
	if _, err := c.Clientset().CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPods(t, c.Clientset(), pod.Labels, 1, 120*time.Second)[0]
	if _, subnet, _ := net.ParseCIDR(realnode.MacvlanSubnet); !subnet.Contains(net.ParseIP(p.Status.PodIP)) {
		t.Fatalf("pod %s has IP %s, want eth0 on the underlay %s", p.Name, p.Status.PodIP, realnode.MacvlanSubnet)
	}
	return p
}

// assertDefaultRouteOnTheWire: the pod's default route leaves by its
// macvlan eth0, so only host-route's routes can take anything to the node.
func assertDefaultRouteOnTheWire(t *testing.T, c *realnode.Cluster, p corev1.Pod) {
	t.Helper()
	netns, err := nodeNamed(t, c, p.Spec.NodeName).PodNetNS(p.Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	defer netns.Close()
	err = netns.Do(func(ns.NetNS) error {
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if eth0.Type() != "macvlan" {
			return fmt.Errorf("eth0 is a %s, want the macvlan", eth0.Type())
		}
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 254}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				if r.LinkIndex != eth0.Attrs().Index {
					return fmt.Errorf("default route %s is not on eth0", r)
				}
				return nil
			}
		}
		return fmt.Errorf("no default route in %v", routes)
	})
	if err != nil {
		t.Fatalf("pod %s: %v", p.Name, err)
	}
}

// assertKubeProxyRule: the node's own iptables (in its netns) has
// kube-proxy's rule for the ClusterIP; nothing else on the node serves it.
func assertKubeProxyRule(t *testing.T, n *realnode.Node, clusterIP string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.NetNS, "iptables-save", "-t", "nat").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save in node %s: %v: %s", n.Name, err, out)
	}
	if !regexp.MustCompile(`-A KUBE-SERVICES -d ` + regexp.QuoteMeta(clusterIP) + `/32 .*-j KUBE-SVC-`).Match(out) {
		t.Errorf("node %s: no kube-proxy rule for ClusterIP %s in its nat table:\n%s", n.Name, clusterIP, out)
	}
}

// dialResult is what the workload's /dial answers (images/workload).
type dialResult struct {
	OK     bool    `json:"ok"`
	Status int     `json:"status"`
	Body   string  `json:"body"`
	Local  string  `json:"local"`
	Millis float64 `json:"ms"`
	Error  string  `json:"error"`
}

// dialFrom asks the workload in pod p to dial addr (proto http or tcp,
// 3 s timeout). The test reaches the workload on the pod's own loopback,
// through its netns: a path that needs none of the pod's routes.
func dialFrom(t *testing.T, c *realnode.Cluster, p corev1.Pod, addr, proto string) dialResult {
	t.Helper()
	netns, err := nodeNamed(t, c, p.Spec.NodeName).PodNetNS(p.Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	defer netns.Close()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, a string) (conn net.Conn, err error) {
			err = netns.Do(func(ns.NetNS) error {
				conn, err = (&net.Dialer{}).DialContext(ctx, network, a)
				return err
			})
			return conn, err
		}}}
	q := url.Values{"addr": {addr}, "proto": {proto}, "timeout": {"3s"}}
	resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/dial?%s", image.WorkloadPort, q.Encode()))
	if err != nil {
		t.Fatalf("pod %s: ask the workload to dial %s: %v", p.Name, addr, err)
	}
	defer resp.Body.Close()
	var r dialResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pod %s: /dial %s answered %s: %v", p.Name, addr, resp.Status, err)
	}
	return r
}

// dialUntil dials until the first success: kube-proxy writes a new
// Service's rules a moment after its endpoints are ready.
func dialUntil(t *testing.T, c *realnode.Cluster, p corev1.Pod, addr, proto string, timeout time.Duration) dialResult {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := dialFrom(t, c, p, addr, proto)
		if r.OK {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s (%s on %s) cannot reach %s after %s: %s", p.Name, p.Status.PodIP, p.Spec.NodeName, addr, timeout, r.Error)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
