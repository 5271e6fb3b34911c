package e2enode

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// seedNAD is issue 8's scenario 1 network: a macvlan on the nodes' uplink
// with cluster-wide addresses .100–.110 from etcd-ipam (the etcd the chart's
// daemon copied to every node), chained with host-route.
const seedNAD = "macvlan-seed"

// macvlanNADConfig is that network named name with the range .from–.to.
func macvlanNADConfig(name string, from, to byte) string {
	_, subnet, _ := net.ParseCIDR(realnode.MacvlanSubnet)
	base := subnet.IP.To4()
	return fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [
  {"type": "macvlan", "master": %q, "mode": "bridge",
   "ipam": {"type": "etcd-ipam", "subnet": %q, "rangeStart": "%s", "rangeEnd": "%s",
            "etcd": {"endpointsFile": "/etc/cni/net.d/meta-cni.d/etcd/endpoints"}}},
  {"type": "host-route", "hostInterface": %q, "serviceCIDRs": ["10.96.0.0/12"]}]}`,
		name, realnode.MacvlanMaster, realnode.MacvlanSubnet, seedIP(base, from), seedIP(base, to), realnode.MacvlanMaster)
}

func seedIP(base net.IP, last byte) string {
	return net.IPv4(base[0], base[1], base[2], last).String()
}

// seedIPs is the set of macvlan addresses .from–.to.
func seedIPs(from, to byte) []string {
	_, subnet, _ := net.ParseCIDR(realnode.MacvlanSubnet)
	var ips []string
	for i := from; i <= to; i++ {
		ips = append(ips, seedIP(subnet.IP.To4(), i))
	}
	return ips
}

func createMacvlanNAD(t *testing.T, c *realnode.Cluster, name string, from, to byte) {
	t.Helper()
	nad := &nadv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       nadv1.NetworkAttachmentDefinitionSpec{Config: macvlanNADConfig(name, from, to)},
	}
	if _, err := c.Kube.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions("default").Create(context.Background(), nad, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create NAD %s: %v", name, err)
	}
}

// workloadDeployment is n workload pods attached to the networks.
func workloadDeployment(name, image string, n int32, networks string) *appsv1.Deployment {
	d := pauseDeployment(name, n)
	d.Spec.Template.Annotations = map[string]string{"k8s.v1.cni.cncf.io/networks": networks}
	d.Spec.Template.Spec.Containers[0] = corev1.Container{Name: "workload", Image: image, ImagePullPolicy: corev1.PullNever}
	return d
}

// seedScenario is issue 8's scenario 1 through the chart's meta-cni.
// etcd-ipam promises (cmd/etcd-ipam/README.md, Behaviour): addresses go
// out in order after the last one handed out, wrapping around, so one just
// freed is not handed out again at once. Hence .100–.104, then .105–.107,
// and after freeing 3 of them the next 3 are .108–.110, none just freed.
// The replicas start together, as a Deployment's do: concurrent ADDs on
// two nodes keep that order too (they once skipped addresses, e.g. .100–.103
// and .107 for 5 pods at once, before etcd-ipam retried lost races in order).
func seedScenario(t *testing.T, c *realnode.Cluster, workloadImage string) {
	cs := c.Clientset()
	ctx := context.Background()
	createMacvlanNAD(t, c, seedNAD, 100, 110)
	d := workloadDeployment("seed", workloadImage, 5, seedNAD)
	sel := d.Spec.Selector.MatchLabels
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, cs, sel, 5, 120*time.Second)
	got := checkSeedPods(t, c, pods)
	assertSet(t, "5 replicas", got, seedIPs(100, 104))
	pods = scaleTo(t, c, d.Name, sel, 8)
	got = checkSeedPods(t, c, pods)
	assertSet(t, "scaled to 8", got, seedIPs(100, 107))
	scale(t, c, d.Name, 5)
	pods = waitPods(t, cs, sel, 5, 120*time.Second)
	kept := checkSeedPods(t, c, pods)
	freed := minus(got, kept)
	waitNoAllocation(t, c, freed, 30*time.Second)
	pods = scaleTo(t, c, d.Name, sel, 8)
	got = checkSeedPods(t, c, pods)
	if again := minus(got, kept); !equalSets(again, seedIPs(108, 110)) {
		t.Errorf("scaled back to 8: new pods got %v, want .108–.110 (just freed: %v; etcd-ipam hands out after the last one given)", again, freed)
	}
	var eth0 []string
	for _, p := range pods {
		eth0 = append(eth0, filepath.Join(nodeNamed(t, c, p.Spec.NodeName).IPAMDir, "cluster", p.Status.PodIP))
	}
	if err := cs.AppsV1().Deployments("default").Delete(ctx, d.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, cs, sel, 0, 120*time.Second)
	waitNoAllocation(t, c, seedIPs(100, 110), 30*time.Second)
	if keys := ipamKeys(t, c, "/meta-cni/ipam/owners/"); len(keys) != 0 {
		t.Errorf("etcd-ipam owners left after every pod was deleted: %v", keys)
	}
	// The pod object goes once its containers stop; the sandbox's DEL may
	// follow a moment later.
	deadline := time.Now().Add(30 * time.Second)
	for _, f := range eth0 {
		for {
			if _, err := os.Stat(f); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("host-local record %s left 30s after its pod was deleted", f)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if t.Failed() {
		logSandboxFailures(t, c)
	}
}

// logSandboxFailures logs the pods' failed sandbox creations: an ADD that
// failed after etcd-ipam allocated, then freed by the DEL that follows,
// moves the next address on.
func logSandboxFailures(t *testing.T, c *realnode.Cluster) {
	evs, err := c.Clientset().CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "reason=FailedCreatePodSandBox"})
	if err != nil {
		t.Logf("list events: %v", err)
		return
	}
	for _, e := range evs.Items {
		t.Logf("event %s x%d: %s", e.InvolvedObject.Name, e.Count, e.Message)
	}
}

// networkStatus is the part of k8s.v1.cni.cncf.io/network-status compared
// with the pod's netns.
type networkStatus struct {
	Name      string   `json:"name"`
	Interface string   `json:"interface"`
	IPs       []string `json:"ips"`
	Mac       string   `json:"mac"`
}

// checkSeedPods checks that each pod's network-status entry for the seed
// network is what its netns holds (interface, addresses, MAC), and returns
// the pods' seed addresses.
func checkSeedPods(t *testing.T, c *realnode.Cluster, pods []corev1.Pod) []string {
	t.Helper()
	var ips []string
	for _, p := range pods {
		got, why := seedNetworksMatch(t, c, p)
		if why != "" {
			t.Errorf("pod %s: %s", p.Name, why)
			continue
		}
		ips = append(ips, got...)
	}
	return ips
}

// seedStatus waits for the pod's network-status to name the seed network:
// the node API patches it right after ADD, so it may trail Running.
func seedStatus(t *testing.T, c *realnode.Cluster, p corev1.Pod) (networkStatus, error) {
	return statusOf(t, c, p, "default/"+seedNAD, "")
}

// statusOf waits for the pod's network-status entry of network with
// addresses (on iface, unless empty).
func statusOf(t *testing.T, c *realnode.Cluster, p corev1.Pod, network, iface string) (networkStatus, error) {
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		cur, err := c.Clientset().CoreV1().Pods(p.Namespace).Get(context.Background(), p.Name, metav1.GetOptions{})
		if err != nil {
			return networkStatus{}, err
		}
		last = cur.Annotations["k8s.v1.cni.cncf.io/network-status"]
		var sts []networkStatus
		if json.Unmarshal([]byte(last), &sts) == nil {
			for _, st := range sts {
				// host-route adds an entry of the same network for its
				// veth0, without addresses: the macvlan's is the one.
				if st.Name == network && len(st.IPs) > 0 && (iface == "" || st.Interface == iface) {
					return st, nil
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return networkStatus{}, fmt.Errorf("network-status has no entry for %s: %q", network, last)
}

// scaleTo scales the Deployment to n at once and returns its pods once n
// are Running.
func scaleTo(t *testing.T, c *realnode.Cluster, name string, sel map[string]string, n int32) []corev1.Pod {
	t.Helper()
	scale(t, c, name, n)
	return waitPods(t, c.Clientset(), sel, int(n), 120*time.Second)
}

// scale sets the Deployment's replicas with a merge patch, which does not
// conflict with the controller's own status updates as an update would.
func scale(t *testing.T, c *realnode.Cluster, name string, n int32) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n))
	if _, err := c.Clientset().AppsV1().Deployments("default").Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("scale %s to %d: %v", name, n, err)
	}
}

// ipamEtcd is a client of the cluster's IPAM etcd and a context for one
// read; done closes both.
func ipamEtcd(t *testing.T, c *realnode.Cluster) (*clientv3.Client, context.Context, func()) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.IPAMEtcd.Endpoints(), TLS: c.IPAMTLS, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	return cli, ctx, func() { cancel(); cli.Close() }
}

// ipamKeys lists the keys under prefix in the cluster's IPAM etcd.
func ipamKeys(t *testing.T, c *realnode.Cluster, prefix string) []string {
	t.Helper()
	cli, ctx, done := ipamEtcd(t, c)
	defer done()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatalf("list %s in etcd: %v", prefix, err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys
}

// waitNoAllocation waits until etcd-ipam holds none of ips: a deleted
// pod's DEL runs after the API object is gone.
func waitNoAllocation(t *testing.T, c *realnode.Cluster, ips []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var held []string
		for _, k := range ipamKeys(t, c, "/meta-cni/ipam/ipv4/") {
			for _, ip := range ips {
				if strings.HasSuffix(k, "/"+fixedWidth(ip)) {
					held = append(held, ip)
				}
			}
		}
		if len(held) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd-ipam still holds %v %s after their pods were deleted", held, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fixedWidth is etcd-ipam's key form of an IPv4 address: 010.250.001.100.
func fixedWidth(ip string) string {
	b := net.ParseIP(ip).To4()
	if b == nil {
		return ip
	}
	return fmt.Sprintf("%03d.%03d.%03d.%03d", b[0], b[1], b[2], b[3])
}

func assertSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !equalSets(got, want) {
		t.Errorf("%s: macvlan addresses %v, want exactly %v", what, sorted(got), want)
	}
}

func equalSets(a, b []string) bool {
	return strings.Join(sorted(a), ",") == strings.Join(sorted(b), ",")
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Slice(out, func(i, j int) bool { return fixedWidth(out[i]) < fixedWidth(out[j]) })
	return out
}

// minus is a without b.
func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}
