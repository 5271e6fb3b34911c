package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/daemon"
)

var (
	shared   testenv.SharedKube
	saOnce   sync.Once
	saConfig string
	saErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// sharedKube is one control plane for the whole package.
func sharedKube(t testing.TB) *testenv.Kube { return shared.Get(t) }

// chartKubeconfig is a kubeconfig for a ServiceAccount that holds exactly
// the chart's ClusterRole.
func chartKubeconfig(t testing.TB, k *testenv.Kube) string {
	t.Helper()
	saOnce.Do(func() {
		rules, err := testenv.ChartRBACRules()
		if err != nil {
			saErr = err
			return
		}
		saConfig, saErr = k.ServiceAccountKubeconfig(shared.Dir(), "meta-cni-system", "meta-cni", rules)
	})
	if saErr != nil {
		t.Fatalf("chart ServiceAccount: %v", saErr)
	}
	return saConfig
}

var nsCounter atomic.Int64

// fixture is one node, one test namespace with two macvlan NADs, and a
// bridge cluster network in confDir.
type fixture struct {
	t          testing.TB
	kube       *testenv.Kube
	node       *testenv.Node
	namespace  string
	kubeconfig string
	confDir    string
	cacheDir   string
	ipamDir    string
	metaExtra  map[string]any
	// nodeAPI is set by startNodeAPI, and nodeAPICalls lists the requests
	// it served, as "METHOD path".
	nodeAPI      *daemon.NodeAPI
	nodeAPIMu    sync.Mutex
	nodeAPICalls []string
	// keepLinks are node links a DEL rightly leaves, like the bridge
	// plugin's bridge.
	keepLinks []string
}

const clusterSubnet = "10.244.1.0/24"

func newFixture(t testing.TB) *fixture {
	t.Helper()
	k := sharedKube(t)
	node := testenv.NewNode(t, "ens3")
	u, err := url.Parse(k.URL)
	if err != nil {
		t.Fatal(err)
	}
	testenv.ForwardIntoNST(t, node.NS, u.Host)
	f := &fixture{
		t: t, kube: k, node: node,
		namespace:  fmt.Sprintf("t%d", nsCounter.Add(1)),
		kubeconfig: chartKubeconfig(t, k),
		confDir:    filepath.Join(node.Dir, "net.d"),
		cacheDir:   filepath.Join(node.Dir, "meta-cni"),
		ipamDir:    filepath.Join(node.Dir, "ipam"),
	}
	if err := k.EnsureNamespace(f.namespace); err != nil {
		t.Fatal(err)
	}
	node.WriteFile(t, "net.d/10-cbr0.conflist", []byte(fmt.Sprintf(`{
  "cniVersion": "1.0.0", "name": "cbr0",
  "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true,
    "ipam": {"type": "host-local", "subnet": %q, "dataDir": %q}}]}`, clusterSubnet, f.ipamDir)))
	f.createNAD(f.namespace, "macvlan-a", f.macvlanConfig("0.3.1", "192.168.91.0/24", "ens3"))
	f.createNAD(f.namespace, "macvlan-b", f.macvlanConfig("1.0.0", "192.168.92.0/24", "ens3"))
	return f
}

func (f *fixture) macvlanConfig(version, subnet, master string) string {
	return fmt.Sprintf(`{"cniVersion": %q, "type": "macvlan", "master": %q, "mode": "bridge",
  "ipam": {"type": "host-local", "subnet": %q, "dataDir": %q}}`, version, master, subnet, f.ipamDir)
}

func (f *fixture) createNAD(namespace, name, config string) {
	f.t.Helper()
	if err := f.kube.EnsureNamespace(namespace); err != nil {
		f.t.Fatal(err)
	}
	nad := &nadv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       nadv1.NetworkAttachmentDefinitionSpec{Config: config},
	}
	_, err := f.kube.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions(namespace).Create(context.Background(), nad, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatalf("create NAD %s/%s: %v", namespace, name, err)
	}
}

// metaConfList is the conflist a node's runtime would load, with meta-cni
// as its only plugin, at cniVersion version.
func (f *fixture) metaConfList(version string) *libcni.NetworkConfigList {
	f.t.Helper()
	plugin := map[string]any{
		"type": "meta-cni", "kubeconfig": f.kubeconfig, "clusterNetwork": "cbr0",
		"confDir": f.confDir, "cacheDir": f.cacheDir, "binDir": f.node.CNIPath,
		"logFile": filepath.Join(f.node.Dir, "meta-cni.log"), "logLevel": "debug",
	}
	for k, v := range f.metaExtra {
		plugin[k] = v
	}
	data, err := json.Marshal(map[string]any{"cniVersion": version, "name": "meta-cni-net", "plugins": []any{plugin}})
	if err != nil {
		f.t.Fatal(err)
	}
	list, err := libcni.ConfListFromBytes(data)
	if err != nil {
		f.t.Fatal(err)
	}
	return list
}

// sandbox is a pod as the runtime sees it: the object, its netns and
// the runtime config of its CNI calls.
type sandbox struct {
	pod *corev1.Pod
	ns  ns.NetNS
	rt  *libcni.RuntimeConf
}

func (f *fixture) newPod(name string, annotations map[string]string) *sandbox {
	return f.newPodIn(f.namespace, name, annotations)
}

func (f *fixture) newPodIn(namespace, name string, annotations map[string]string) *sandbox {
	f.t.Helper()
	if err := f.kube.EnsureNamespace(namespace); err != nil {
		f.t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Annotations: annotations},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "example.invalid/app"}}},
	}
	pod, err := f.kube.Clientset().CoreV1().Pods(namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatalf("create pod: %v", err)
	}
	netns := testenv.NewNS(f.t)
	id := fmt.Sprintf("c%x", strings.ReplaceAll(string(pod.UID), "-", ""))[:24]
	return &sandbox{pod: pod, ns: netns, rt: &libcni.RuntimeConf{
		ContainerID: id, NetNS: netns.Path(), IfName: "eth0",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", namespace}, {"K8S_POD_NAME", name},
			{"K8S_POD_INFRA_CONTAINER_ID", id}, {"K8S_POD_UID", string(pod.UID)}},
	}}
}

func (f *fixture) getPod(sb *sandbox) *corev1.Pod {
	f.t.Helper()
	pod, err := f.kube.Clientset().CoreV1().Pods(sb.pod.Namespace).Get(context.Background(), sb.pod.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return pod
}

// addrs returns each interface's global addresses inside a netns.
func addrs(t testing.TB, netns ns.NetNS) map[string][]*net.IPNet {
	t.Helper()
	out := map[string][]*net.IPNet{}
	err := netns.Do(func(ns.NetNS) error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			list, err := netlink.AddrList(l, netlink.FAMILY_ALL)
			if err != nil {
				return err
			}
			out[l.Attrs().Name] = nil
			for _, a := range list {
				if a.IP.IsGlobalUnicast() {
					out[l.Attrs().Name] = append(out[l.Attrs().Name], a.IPNet)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list addresses in %s: %v", netns.Path(), err)
	}
	return out
}

func macOf(t testing.TB, netns ns.NetNS, ifname string) string {
	t.Helper()
	var mac string
	err := netns.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		mac = l.Attrs().HardwareAddr.String()
		return nil
	})
	if err != nil {
		t.Fatalf("read MAC of %s: %v", ifname, err)
	}
	return mac
}

// requireIn fails unless ifname has exactly one address, inside cidr.
func requireIn(t testing.TB, got map[string][]*net.IPNet, ifname, cidr string) net.IP {
	t.Helper()
	_, want, _ := net.ParseCIDR(cidr)
	list, ok := got[ifname]
	if !ok {
		t.Fatalf("interface %s missing in pod netns; have %v", ifname, keys(got))
	}
	if len(list) != 1 || !want.Contains(list[0].IP) {
		t.Fatalf("interface %s has addresses %v, want one in %s", ifname, list, cidr)
	}
	return list[0].IP
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// cniErr extracts the CNI error a plugin returned.
func cniErr(t testing.TB, err error) *types.Error {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a CNI error", err, err)
	}
	return e
}

// assertClean fails if the pod's networks left anything behind: links in
// the pod or on the node, IPAM allocations, meta-cni records or libcni
// cache entries.
func (f *fixture) assertClean(sb *sandbox) {
	f.t.Helper()
	f.assertCleanExcept(sb)
}

// assertCleanExcept is assertClean for a state where the files in keep
// (a record, a cached result) must stay for a DEL to come.
func (f *fixture) assertCleanExcept(sb *sandbox, keep ...string) {
	f.t.Helper()
	if sb != nil {
		if _, err := os.Stat(sb.ns.Path()); err == nil {
			for name, a := range addrs(f.t, sb.ns) {
				if name != "lo" {
					f.t.Errorf("pod netns still has link %s %v", name, a)
				}
			}
		}
	}
	links, err := testenv.Links(f.node.NS)
	if err != nil {
		f.t.Fatal(err)
	}
	keepLink := map[string]bool{"lo": true, f.node.Master: true, "cni0": true}
	for _, l := range f.keepLinks {
		keepLink[l] = true
	}
	for _, l := range links {
		if !keepLink[l] {
			f.t.Errorf("node netns still has link %s", l)
		}
	}
	for _, dir := range []string{f.ipamDir, filepath.Join(f.cacheDir, "attachments"), filepath.Join(f.cacheDir, "libcni", "results")} {
		_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			base := filepath.Base(path)
			if base == "lock" || strings.HasPrefix(base, "last_reserved_ip") || slices.Contains(keep, path) {
				return nil
			}
			f.t.Errorf("left behind: %s", path)
			return nil
		})
	}
}

// startNodeAPI serves meta-cni-daemon's node API, with the chart's
// ServiceAccount, on a socket the plugin's conf names as daemonSocket.
func (f *fixture) startNodeAPI() *daemon.NodeAPI {
	f.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	if err != nil {
		f.t.Fatal(err)
	}
	// A socket path must fit in 108 bytes, which a test's temp dir may not.
	dir, err := os.MkdirTemp("", "mcni-")
	if err != nil {
		f.t.Fatal(err)
	}
	n, err := daemon.NewNodeAPI(cfg, "node-1", filepath.Join(dir, "journal"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.t.Fatal(err)
	}
	socket := filepath.Join(dir, "node-api.sock")
	stop, err := daemon.ServeSocket(socket, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.nodeAPIMu.Lock()
		f.nodeAPICalls = append(f.nodeAPICalls, r.Method+" "+r.URL.Path)
		f.nodeAPIMu.Unlock()
		n.ServeHTTP(w, r)
	}))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Close(ctx)
		os.RemoveAll(dir)
	})
	if f.metaExtra == nil {
		f.metaExtra = map[string]any{}
	}
	f.metaExtra["daemonSocket"] = socket
	f.nodeAPI = n
	return n
}

// waitNetworkStatus returns the pod once it carries a network-status
// annotation; through the node API it lands just after ADD returns.
func (f *fixture) waitNetworkStatus(sb *sandbox) *corev1.Pod {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pod := f.getPod(sb)
		if _, ok := pod.Annotations[nadv1.NetworkStatusAnnot]; ok {
			return pod
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("pod %s/%s has no network-status 10s after ADD", sb.pod.Namespace, sb.pod.Name)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// nodeAPIServed lists the requests the node API served.
func (f *fixture) nodeAPIServed() []string {
	f.nodeAPIMu.Lock()
	defer f.nodeAPIMu.Unlock()
	return slices.Clone(f.nodeAPICalls)
}

// events returns the messages of the pod's Events with reason, waiting
// up to 10s for at least want of them: through the node API they are sent
// just after ADD returns.
func (f *fixture) events(sb *sandbox, reason string, want int) []string {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := f.kube.Clientset().CoreV1().Events(sb.pod.Namespace).List(context.Background(),
			metav1.ListOptions{FieldSelector: "involvedObject.name=" + sb.pod.Name})
		if err != nil {
			f.t.Fatal(err)
		}
		var msgs []string
		for _, ev := range list.Items {
			if ev.Reason == reason && ev.InvolvedObject.Name == sb.pod.Name && ev.InvolvedObject.UID == sb.pod.UID {
				msgs = append(msgs, ev.Message)
			}
		}
		if len(msgs) >= want || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(10 * time.Millisecond)
	}
}
