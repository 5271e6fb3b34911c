// Command demo is `make demo`: a whole meta-cni node on one machine. It
// starts a real etcd and kube-apiserver, plays the kubelet for a few pods
// that ask for a second network (macvlan with etcd-ipam, chained with
// host-route), prints what each pod got, then tears everything down and
// checks that nothing is left.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/daemon"
)

const (
	namespace = "demo"
	pods      = 3
	hostIP    = "192.168.91.2/24"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
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

	step("building meta-cni, etcd-ipam, host-route and the reference plugins")
	if _, err := testenv.CNIPath(); err != nil {
		return err
	}
	step("starting etcd and kube-apiserver on loopback (first run builds kube-apiserver: a few minutes)")
	kube, err := testenv.StartKube(filepath.Join(dir, "kube"))
	if err != nil {
		return err
	}
	defer kube.Stop()
	rules, err := testenv.ChartRBACRules()
	if err != nil {
		return err
	}
	kubeconfig, err := kube.ServiceAccountKubeconfig(dir, "kube-system", "meta-cni", rules)
	if err != nil {
		return err
	}

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
	cluster := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"cbr0","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,
  "ipam":{"type":"host-local","subnet":"10.244.1.0/24","routes":[{"dst":"0.0.0.0/0"}],"dataDir":%q}}]}`, filepath.Join(node.Dir, "host-local"))
	if err := os.WriteFile(filepath.Join(confDir, "10-cbr0.conflist"), []byte(cluster), 0o644); err != nil {
		return err
	}
	underlay := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"macvlan-conf","plugins":[
  {"type":"macvlan","master":"ens3","mode":"bridge",
   "ipam":{"type":"etcd-ipam","subnet":"192.168.91.0/24","rangeStart":"192.168.91.100","rangeEnd":"192.168.91.110",
           "gateway":"192.168.91.1","etcd":{"endpoints":[%q],"prefix":"/meta-cni-demo"}}},
  {"type":"host-route","hostInterface":"ens3","serviceCIDRs":["10.96.0.0/12"]}]}`, kube.Etcd.Endpoints()[0])
	step("creating namespace %q and NetworkAttachmentDefinition macvlan-conf (macvlan + etcd-ipam + host-route)", namespace)
	if err := kube.EnsureNamespace(namespace); err != nil {
		return err
	}
	nad := &nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{Name: "macvlan-conf", Namespace: namespace},
		Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: underlay}}
	if _, err := kube.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions(namespace).Create(ctx, nad, metav1.CreateOptions{}); err != nil {
		return err
	}

	socket := filepath.Join(dir, "node-api.sock")
	step("serving meta-cni-daemon's node API on %s, as the chart does", socket)
	stopNodeAPI, err := serveNodeAPI(kubeconfig, socket, filepath.Join(dir, "network-status"))
	if err != nil {
		return err
	}
	defer stopNodeAPI()

	metaConf, _ := json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": "meta-cni", "plugins": []any{map[string]any{
		"type": "meta-cni", "kubeconfig": kubeconfig, "daemonSocket": socket, "clusterNetwork": "cbr0", "confDir": confDir,
		"cacheDir": filepath.Join(node.Dir, "cache"), "binDir": node.CNIPath, "logFile": filepath.Join(node.Dir, "meta-cni.log"),
	}}})
	list, err := libcni.ConfListFromBytes(metaConf)
	if err != nil {
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
	step("adding %d pods, each annotated k8s.v1.cni.cncf.io/networks: macvlan-conf", pods)
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
		fmt.Printf("    %s attached in %s\n", pod.Name, time.Since(start).Round(time.Millisecond))
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
	step("done: every pod got eth0 on the cluster bridge and net1 on macvlan from the shared etcd pool")
	return nil
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

// serveNodeAPI runs meta-cni-daemon's node API with the chart's
// ServiceAccount on socket, until the returned func is called.
func serveNodeAPI(kubeconfig, socket, journal string) (func(), error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	n, err := daemon.NewNodeAPI(cfg, journal, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	stop, err := daemon.ServeSocket(socket, n)
	if err != nil {
		n.Close(context.Background())
		return nil, err
	}
	return func() {
		stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Close(ctx)
	}, nil
}
