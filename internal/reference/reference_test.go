package reference_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

const (
	pods      = 20
	master    = "ens3"
	namespace = "ref"
	nodeName  = "node-a"
	// wbRange is the reference's pool, etcdSubnet meta-cni's: two /24s on
	// the same wire, each with a node address for host-route outside the
	// window both IPAMs hand out, .10 to .250.
	wbRange    = "192.168.92.0/24"
	wbWindow   = "192.168.92.10-192.168.92.250/24"
	wbHostIP   = "192.168.92.1"
	etcdSubnet = "192.168.93.0/24"
	etcdHostIP = "192.168.93.1"
)

// The reference install on one simulated node: 20 pods ADDed through the
// installed Multus conf, 8 at a time, each get a distinct Whereabouts
// address that its IPPool records for that pod; after DEL of all of them,
// the pool and the overlapping-range reservations are empty. A pod deleted
// from the API without DEL loses its address to ip-control-loop. meta-cni then
// attaches the same number of pods, with etcd-ipam, on the same node, and
// both per-pod ADD times are logged as a sanity figure (not a benchmark).
func TestReferenceInstallGivesDistinctWhereaboutsAddressesAndReleasesAll(t *testing.T) {
	testenv.RequireRoot(t)
	k := testenv.StartKubeT(t)
	dir := t.TempDir()
	rc, err := k.InstallReference(dir)
	if err != nil {
		t.Fatalf("install the reference cluster-wide: %v", err)
	}
	admin, err := k.AdminKubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.InstallWhereaboutsCRDs(admin); err != nil {
		t.Errorf("installing Whereabouts' CRDs a second time: %v", err)
	}
	node := testenv.NewNode(t, master)
	for _, addr := range []string{k.URL, k.Etcd.Endpoints()[0]} {
		u, err := url.Parse(addr)
		if err != nil {
			t.Fatal(err)
		}
		testenv.ForwardIntoNST(t, node.NS, u.Host)
	}
	node.AddHostAddr(t, wbHostIP+"/24")
	node.AddHostAddr(t, etcdHostIP+"/24")
	cluster := node.WriteFile(t, "net.d/10-cbr0.conflist", []byte(fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "cbr0",
  "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true,
    "ipam": {"type": "host-local", "subnet": "10.244.1.0/24", "dataDir": %q}}]}`, filepath.Join(node.Dir, "ipam"))))
	if err := k.EnsureNamespace(namespace); err != nil {
		t.Fatal(err)
	}

	if _, err := k.Clientset().CoreV1().Nodes().Create(context.Background(),
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Node %s: %v", nodeName, err)
	}

	rt := installReference(t, k, rc, node, cluster)
	var ref, meta figures
	t.Run("multus+whereabouts", func(t *testing.T) { ref = attachReference(t, k, rt) })
	t.Run("ip-control-loop releases a deleted pod's address", func(t *testing.T) { reclaimDeletedPod(t, k, rc, rt) })
	t.Run("meta-cni", func(t *testing.T) { meta = attachMetaCNI(t, k, node) })
	if ref.lat == nil || meta.lat == nil {
		return
	}
	t.Logf("per-pod ADD, %d pods, %d at a time, one node (a sanity figure on a shared machine, not a benchmark):", pods, kubeletParallel)
	t.Logf("  Multus %s + Whereabouts %s: p50 %.0f ms, p95 %.0f ms, %.1f pods/s, %d ADDs retried",
		testenv.ReferenceMultus, testenv.WhereaboutsVersion, ref.lat.Percentile(0.5), ref.lat.Percentile(0.95), ref.rate, len(ref.failed))
	t.Logf("  meta-cni + etcd-ipam (standalone): p50 %.0f ms, p95 %.0f ms, %.1f pods/s, %d ADDs retried",
		meta.lat.Percentile(0.5), meta.lat.Percentile(0.95), meta.rate, len(meta.failed))
	for _, err := range append(ref.failed, meta.failed...) {
		t.Logf("  retried: %v", err)
	}
}

type figures struct {
	lat    testenv.Latencies
	rate   float64
	failed []error // ADD attempts that failed and were retried
}

// chain is the extra network's conflist: macvlan with ipam, then
// host-route, the same per-pod work for both implementations.
func chain(name string, ipam map[string]any, hostIP string) string {
	data, err := json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": name, "plugins": []any{
		map[string]any{"type": "macvlan", "master": master, "mode": "bridge", "ipam": ipam},
		map[string]any{"type": "host-route", "hostIPs": []string{hostIP}, "serviceCIDRs": []string{"10.96.0.0/12"}},
	}})
	if err != nil {
		panic(err)
	}
	return string(data)
}

func createNAD(t *testing.T, k *testenv.Kube, name, config string) {
	t.Helper()
	nad := &nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: config}}
	if _, err := k.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions(namespace).Create(context.Background(), nad, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create NAD %s/%s: %v", namespace, name, err)
	}
}

// installReference installs the reference on node, with the NAD
// macvlan-wb, and returns the node's runtime loaded with Multus's conf.
func installReference(t *testing.T, k *testenv.Kube, rc *testenv.ReferenceCluster, node *testenv.Node, cluster string) *runtime {
	t.Helper()
	n := testenv.ReferenceNode{
		Name: nodeName, BinDir: filepath.Join(node.Dir, "opt-cni-bin"), ConfDir: filepath.Dir(cluster),
		CacheDir: filepath.Join(node.Dir, "var-lib-cni-multus"), ClusterNetwork: cluster,
		MultusKubeconfig: rc.MultusKubeconfig, WhereaboutsKubeconfig: rc.WhereaboutsKubeconfig,
		LogFile: filepath.Join(node.Dir, "multus.log"),
	}
	confPath, err := testenv.InstallReferenceNode(n)
	if err != nil {
		t.Fatal(err)
	}
	// The daemonsets write these 0600: a token is in each kubeconfig.
	for _, rel := range []string{filepath.Base(confPath), "multus.d/multus.kubeconfig",
		"whereabouts.d/whereabouts.kubeconfig", "whereabouts.d/whereabouts.conf"} {
		if mode := testenv.Mode(t, filepath.Join(n.ConfDir, rel)); mode != 0o600 {
			t.Errorf("%s on the node has mode %v, want 0600", rel, mode)
		}
	}
	list, err := libcni.ConfListFromFile(confPath)
	if err != nil {
		t.Fatalf("load the installed Multus conf %s: %v", confPath, err)
	}
	rt := newRuntime(t, node, list, n.BinDir, "ref")
	rt.ref = &n
	createNAD(t, k, "macvlan-wb", chain("macvlan-wb", testenv.WhereaboutsIPAM(wbWindow, rc.WhereaboutsKubeconfig), wbHostIP))
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(n.LogFile)
			t.Logf("Multus log (last 4 kB):\n%s", tail(data, 4096))
			data, _ = os.ReadFile(filepath.Join(node.Dir, "ref-plugins.stderr"))
			t.Logf("plugins' stderr (last 4 kB):\n%s", tail(data, 4096))
		}
	})
	return rt
}

func attachReference(t *testing.T, k *testenv.Kube, rt *runtime) figures {
	sbs := newSandboxes(t, k, namespace, "wb", "macvlan-wb", pods)

	lat, wall, failed := rt.attachAll(t, sbs)
	inNetns := podAddresses(t, sbs, "net1", mustCIDR(wbRange))
	inPool := poolAllocations(t, k)
	if len(inPool) != pods {
		t.Errorf("IPPool %s holds %d allocations, want %d: %v", wbRange, len(inPool), pods, inPool)
	}
	for ip, ref := range inNetns {
		if inPool[ip] != ref {
			t.Errorf("pod %s has %s, IPPool records %q for it", ref, ip, inPool[ip])
		}
	}

	ids := map[string]bool{}
	for _, sb := range sbs {
		ids[sb.rt.ContainerID] = true
	}
	records := referenceRecords(t, rt)
	kinds := map[string]map[string]bool{}
	for _, r := range records {
		if !ids[r.ContainerID] {
			t.Errorf("%s %s names container %q, no sandbox's", r.Kind, r.Path, r.ContainerID)
		}
		if kinds[r.Kind] == nil {
			kinds[r.Kind] = map[string]bool{}
		}
		kinds[r.Kind][r.ContainerID] = true
	}
	for _, kind := range []string{"multus delegates", "cached result"} {
		if len(kinds[kind]) != pods {
			t.Errorf("Multus's cache holds a %s for %d sandboxes, want %d", kind, len(kinds[kind]), pods)
		}
	}

	rt.detachAll(t, sbs)
	assertLinkGone(t, sbs, "net1")
	if left := referenceRecords(t, rt); len(left) != 0 {
		t.Errorf("Multus's cache still holds %v after every pod's DEL", left)
	}
	if left := poolAllocations(t, k); len(left) != 0 {
		t.Errorf("IPPool %s still holds %v after every pod's DEL", wbRange, left)
	}
	if left, err := k.WhereaboutsReservations(context.Background()); err != nil || len(left) != 0 {
		t.Errorf("OverlappingRangeIPReservations left after every pod's DEL: %v (%v)", left, err)
	}
	return figures{lat: lat, rate: float64(pods) / wall.Seconds(), failed: failed}
}

func referenceRecords(t *testing.T, rt *runtime) []testenv.ReferenceRecord {
	t.Helper()
	records, err := testenv.ReferenceRecords(*rt.ref)
	if err != nil {
		t.Fatal(err)
	}
	return records
}

// poolAllocations reads Whereabouts' IPPools and returns their
// allocations as address → pod reference; every one must be in wbRange.
func poolAllocations(t *testing.T, k *testenv.Kube) map[string]string {
	t.Helper()
	allocs, err := k.WhereaboutsAllocations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range allocs {
		if a.Range != wbRange {
			t.Errorf("IPPool %s has range %s, want only %s", a.Pool, a.Range, wbRange)
		}
		out[a.IP.String()] = a.PodRef
	}
	return out
}

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
