package e2enode

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	"github.com/meta-cni/meta-cni/pkg/ipam"
	"github.com/meta-cni/meta-cni/pkg/ipam/etcdv3"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ipamPrefix is the chart's ipam.etcdPrefix, the NADs' default.
const ipamPrefix = "/meta-cni/ipam"

// holdings lists every etcd-ipam owner record of the cluster's IPAM etcd,
// with the pod and addresses each names: what the reconciler reads.
func holdings(t *testing.T, c *realnode.Cluster) []ipam.Holding {
	t.Helper()
	cli, ctx, done := ipamEtcd(t, c)
	defer done()
	hs, err := ipam.NewStoreKV(etcdv3.KV{Client: cli}, ipamPrefix, "", nil).Holders(ctx)
	if err != nil {
		t.Fatalf("list etcd-ipam holdings: %v", err)
	}
	return hs
}

// heldAddrs maps each address held in etcd-ipam to the UID of the pod its
// record names.
func heldAddrs(hs []ipam.Holding) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		for _, a := range h.Addrs {
			m[a.Addr.String()] = h.PodUID
		}
	}
	return m
}

// seedNetworks reads pod p's network-status entry for the seed network and
// what its netns holds on that interface: addresses and MAC.
func seedNetworks(t *testing.T, c *realnode.Cluster, p corev1.Pod) (st networkStatus, inside []string, mac string, err error) {
	t.Helper()
	return networksOf(t, c, p, "default/"+seedNAD, "")
}

// networksOf is seedNetworks for any network (and interface, if not empty).
func networksOf(t *testing.T, c *realnode.Cluster, p corev1.Pod, network, iface string) (st networkStatus, inside []string, mac string, err error) {
	t.Helper()
	if st, err = statusOf(t, c, p, network, iface); err != nil {
		return st, nil, "", err
	}
	netns, err := nodeNamed(t, c, p.Spec.NodeName).PodNetNS(p.Status.PodIP)
	if err != nil {
		return st, nil, "", err
	}
	defer netns.Close()
	addrs, err := testenv.LinkAddrs(netns, st.Interface)
	if err != nil {
		return st, nil, "", fmt.Errorf("addresses of %s in the pod: %w", st.Interface, err)
	}
	for _, a := range addrs {
		inside = append(inside, a.String())
	}
	_ = netns.Do(func(_ ns.NetNS) error {
		if l, err := netlink.LinkByName(st.Interface); err == nil {
			mac = l.Attrs().HardwareAddr.String()
		}
		return nil
	})
	return st, inside, mac, nil
}

// seedNetworksMatch says whether the pod's network-status for the seed
// network is what its netns holds; the reason when not.
func seedNetworksMatch(t *testing.T, c *realnode.Cluster, p corev1.Pod) (ips []string, why string) {
	t.Helper()
	st, inside, mac, err := seedNetworks(t, c, p)
	if err != nil {
		return nil, err.Error()
	}
	if !equalSets(inside, st.IPs) || mac != st.Mac {
		return nil, fmt.Sprintf("network-status says %s has %v and MAC %s; its netns has %v and MAC %s", st.Interface, st.IPs, st.Mac, inside, mac)
	}
	return st.IPs, ""
}

// getPod reads a pod afresh.
func getPod(t *testing.T, c *realnode.Cluster, namespace, name string) (*corev1.Pod, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Clientset().CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

// reconcilerReleases reads the chart's daemons' container logs on every
// node (the kubelet's podLogsDir, CRI format, the daemon's JSON lines) and
// returns each address the IPAM reconciler released, with the node whose
// daemon released it: a DEL frees an address without such a line.
func reconcilerReleases(t *testing.T, c *realnode.Cluster) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range c.Nodes {
		files, _ := filepath.Glob(filepath.Join(n.Dir, "pod-logs", realnode.ChartNamespace+"_"+realnode.ChartRelease+"-*", "*", "*.log"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				i := strings.Index(line, "{")
				if i < 0 || !strings.Contains(line, "released allocation of a pod that no longer exists") {
					continue
				}
				var rec struct {
					Addrs []string `json:"addrs"`
				}
				if err := json.Unmarshal([]byte(line[i:]), &rec); err != nil {
					t.Fatalf("daemon log %s: %v: %s", f, err, line)
				}
				for _, a := range rec.Addrs {
					out[a] = n.Name
				}
			}
		}
	}
	return out
}
