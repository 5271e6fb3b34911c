// Command demo is `make demo`: a whole meta-cni node on one machine. It
// starts a real etcd and kube-apiserver and meta-cni-daemon as the chart
// runs it, plays the kubelet for five pods that ask for a second network
// (macvlan with etcd-ipam, chained with host-route), prints what each pod
// got and what the daemon's metrics say, then tears everything down and
// checks that nothing is left.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

const (
	namespace  = "demo"
	pods       = 5
	hostIP     = "192.168.91.2/24"
	demoPrefix = "/meta-cni-demo/ipam"
	rangeSet   = "192.168.91.100-192.168.91.110 in 192.168.91.0/24"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

var started = time.Now()

// step announces a stage with the time since the demo started.
func step(format string, args ...any) {
	fmt.Printf("==> [%5.1fs] "+format+"\n", append([]any{time.Since(started).Seconds()}, args...)...)
}

func run() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the demo creates network namespaces and needs root")
	}
	dir, err := os.MkdirTemp("", "meta-cni-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	testenv.Progress = os.Stdout

	step("building meta-cni, etcd-ipam, host-route, meta-cni-daemon and the reference plugins")
	if _, err := testenv.CNIPath(); err != nil {
		return err
	}
	step("building etcd and kube-apiserver from hack/tools (first run only: several minutes on 2 cores; progress below)")
	if _, err := testenv.EtcdBinary(); err != nil {
		return err
	}
	if _, err := testenv.KubeAPIServerBinary(); err != nil {
		return err
	}
	step("starting etcd and kube-apiserver on loopback")
	kube, err := testenv.StartKube(filepath.Join(dir, "kube"))
	if err != nil {
		return err
	}
	defer kube.Stop()

	step("making node netns with uplink ens3 (%s), its peer on a wire netns", hostIP)
	node, err := testenv.StartNode(filepath.Join(dir, "node"), "ens3")
	if err != nil {
		return err
	}
	defer node.Close()
	if _, err := testenv.AddAddress(node.NS, "ens3", hostIP); err != nil {
		return err
	}
	for _, raw := range append([]string{kube.URL}, kube.Etcd.Endpoints()...) {
		u, _ := url.Parse(raw)
		fwd, err := testenv.ForwardIntoNS(node.NS, u.Host)
		if err != nil {
			return err
		}
		defer fwd.Close()
	}

	confDir := filepath.Join(node.Dir, "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return err
	}
	step("installing the cluster network (bridge + host-local, standing in for flannel or calico) in %s", confDir)
	cluster := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"cbr0","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,
  "ipam":{"type":"host-local","subnet":"10.244.1.0/24","routes":[{"dst":"0.0.0.0/0"}],"dataDir":%q}}]}`, filepath.Join(node.Dir, "host-local"))
	if err := os.WriteFile(filepath.Join(confDir, "10-cbr0.conflist"), []byte(cluster), 0o644); err != nil {
		return err
	}

	step("starting meta-cni-daemon as the chart runs it: it installs the plugins and 00-meta-cni.conflist, serves the node API and metrics, and leads the IPAM reconciler")
	metaConf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"meta-cni","plugins":[{"type":"meta-cni","clusterNetwork":"cbr0","confDir":%q,
  "cacheDir":%q,"logFile":%q}]}`, confDir, filepath.Join(node.Dir, "cache"), filepath.Join(node.Dir, "meta-cni.log"))
	nd, err := startDaemon(kube, filepath.Join(dir, "daemon"), confDir, node.CNIPath, kube.Etcd.Endpoints(), metaConf)
	if err != nil {
		return err
	}
	defer nd.stop()
	list, err := libcni.ConfListFromFile(nd.conflist)
	if err != nil {
		return err
	}
	fmt.Printf("    the runtime reads %s; the plugin calls the API server through %s\n", nd.conflist, nd.socket)

	// etcd-ipam finds etcd as NADs on a chart install do: the endpoints
	// file the daemon copied from the etcd Secret.
	underlay := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"macvlan-conf","plugins":[
  {"type":"macvlan","master":"ens3","mode":"bridge",
   "ipam":{"type":"etcd-ipam","subnet":"192.168.91.0/24","rangeStart":"192.168.91.100","rangeEnd":"192.168.91.110",
           "gateway":"192.168.91.1","etcd":{"endpointsFile":%q,"prefix":%q}}},
  {"type":"host-route","hostInterface":"ens3","serviceCIDRs":["10.96.0.0/12"]}]}`, filepath.Join(confDir, "meta-cni.d", "etcd", "endpoints"), demoPrefix)
	step("creating namespace %q and NetworkAttachmentDefinition macvlan-conf (macvlan + etcd-ipam .100-.110 + host-route)", namespace)
	if err := kube.EnsureNamespace(namespace); err != nil {
		return err
	}
	nad := &nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{Name: "macvlan-conf", Namespace: namespace},
		Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: underlay}}
	if _, err := kube.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions(namespace).Create(ctx, nad, metav1.CreateOptions{}); err != nil {
		return err
	}

	type sandbox struct {
		pod *corev1.Pod
		ns  ns.NetNS
		rt  *libcni.RuntimeConf
	}
	var sandboxes []sandbox
	defer func() {
		for _, sb := range sandboxes {
			testenv.RemoveNS(sb.ns)
		}
	}()
	step("adding %d pods one after the other, each annotated k8s.v1.cni.cncf.io/networks: macvlan-conf", pods)
	for i := 1; i <= pods; i++ {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%d", i), Namespace: namespace,
			Annotations: map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-conf"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app"}}}}
		if pod, err = kube.Clientset().CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return err
		}
		netns, err := testutils.NewNS()
		if err != nil {
			return err
		}
		id := fmt.Sprintf("demo%d", i)
		rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netns.Path(), IfName: "eth0", Args: [][2]string{
			{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", namespace}, {"K8S_POD_NAME", pod.Name}, {"K8S_POD_UID", string(pod.UID)}}}
		sandboxes = append(sandboxes, sandbox{pod, netns, rt})
		start := time.Now()
		if _, err := node.Add(ctx, list, rt); err != nil {
			return fmt.Errorf("ADD %s: %w", pod.Name, err)
		}
		took := time.Since(start).Round(time.Millisecond)
		got, err := addrOf(netns, "net1")
		if err != nil {
			return fmt.Errorf("%s: %w", pod.Name, err)
		}
		// The seed scenario: five pods get .100 to .104, in order.
		if want := fmt.Sprintf("192.168.91.%d", 99+i); got != want {
			return fmt.Errorf("%s got net1 %s, want %s: addresses must be handed out in order", pod.Name, got, want)
		}
		fmt.Printf("    [%d/%d] %s attached in %s: net1 %s\n", i, pods, pod.Name, took, got)
	}

	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tINTERFACE\tNETWORK\tIPS\tMAC\tDEFAULT")
	for _, sb := range sandboxes {
		// The daemon applies network-status just after ADD returns.
		var pod *corev1.Pod
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if pod, err = kube.Clientset().CoreV1().Pods(namespace).Get(ctx, sb.pod.Name, metav1.GetOptions{}); err != nil {
				return err
			}
			if _, ok := pod.Annotations[nadv1.NetworkStatusAnnot]; ok || time.Now().After(deadline) {
				break
			}
		}
		var status []nadv1.NetworkStatus
		if err := json.Unmarshal([]byte(pod.Annotations[nadv1.NetworkStatusAnnot]), &status); err != nil {
			return fmt.Errorf("pod %s network-status: %w", pod.Name, err)
		}
		for _, st := range status {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", pod.Name, st.Interface, st.Name, strings.Join(st.IPs, ","), st.Mac, st.Default)
		}
	}
	tw.Flush()
	fmt.Println()
	for _, sb := range sandboxes {
		routes, err := podRoutes(sb.ns)
		if err != nil {
			return err
		}
		fmt.Printf("    %s routes: %s\n", sb.pod.Name, strings.Join(routes, " | "))
	}
	fmt.Println()

	host, _, _ := net.ParseCIDR(hostIP)
	step("pinging the node (%s) from each pod: plain macvlan cannot, host-route's veth can", host)
	for _, sb := range sandboxes {
		if err := testenv.Ping(sb.ns, host, 2*time.Second); err != nil {
			return fmt.Errorf("%s cannot reach its host: %w", sb.pod.Name, err)
		}
		fmt.Printf("    %s -> %s: ok\n", sb.pod.Name, host)
	}
	fmt.Println()

	step("what meta-cni-daemon's /metrics says (see the README's Monitoring section)")
	used, free, total, err := poolFigures(nd.d.Gatherer(), namespace+"/macvlan-conf", rangeSet, pods)
	if err != nil {
		return err
	}
	fmt.Printf("    pool %s/macvlan-conf (%s): used %v, free %v, total %v   meta_cni_ipam_pool_addresses\n", namespace, rangeSet, used, free, total)
	count, p50, p95, err := latency(nd.d.Gatherer(), "ADD")
	if err != nil {
		return err
	}
	fmt.Printf("    pod ADD as the runtime waited for it: %d runs, p50 %s, p95 %s (histogram_quantile over its buckets)   meta_cni_plugin_duration_seconds\n",
		count, p50.Round(100*time.Microsecond), p95.Round(100*time.Microsecond))
	fmt.Println()

	step("deleting every pod")
	for _, sb := range sandboxes {
		if err := node.Del(ctx, list, sb.rt); err != nil {
			return fmt.Errorf("DEL %s: %w", sb.pod.Name, err)
		}
	}
	links, err := testenv.Links(node.NS)
	if err != nil {
		return err
	}
	step("node links after DEL: %s", strings.Join(links, ", "))
	if err := nd.stop(); err != nil {
		return fmt.Errorf("meta-cni-daemon: %w", err)
	}
	step("done: every pod got eth0 on the cluster bridge and net1 on macvlan from the shared etcd pool")
	return nil
}

// addrOf is the IPv4 address of ifname in netns.
func addrOf(netns ns.NetNS, ifname string) (string, error) {
	var out string
	err := netns.Do(func(ns.NetNS) error {
		link, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil || len(addrs) == 0 {
			return fmt.Errorf("%s has no IPv4 address: %v", ifname, err)
		}
		out = addrs[0].IP.String()
		return nil
	})
	return out, err
}

func podRoutes(netns ns.NetNS) ([]string, error) {
	var out []string
	err := netns.Do(func(ns.NetNS) error {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range routes {
			dst := "default"
			if r.Dst != nil {
				dst = r.Dst.String()
			}
			link, _ := netlink.LinkByIndex(r.LinkIndex)
			name := "?"
			if link != nil {
				name = link.Attrs().Name
			}
			via := ""
			if r.Gw != nil && !r.Gw.Equal(net.IPv4zero) {
				via = " via " + r.Gw.String()
			}
			out = append(out, dst+via+" dev "+name)
		}
		return nil
	})
	return out, err
}
