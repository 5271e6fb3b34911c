package soak

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/google/nftables"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/vishvananda/netlink"
	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/delegate"
	"github.com/meta-cni/meta-cni/pkg/ipam"
	"github.com/meta-cni/meta-cni/pkg/routing"
)

// The checker must see every kind of leak and duplicate: each case plants
// one on a real cluster with two live pods, expects its kind among the
// violations, and takes it away again.
func TestInvariantsCatchEveryPlantedLeakAndDuplicate(t *testing.T) {
	// The plants are meta-cni's state; the checker is the same for all.
	c := clusterFor(t, "meta-cni")
	ensureNetwork(t, c, "plant", newPool("10.20.8.0/24", 20))
	ctx := context.Background()
	pods, err := createPods(ctx, c, "plant", "live", "macvlan", 2)
	if err != nil {
		t.Fatal(err)
	}
	if ph, err := addPods(c, pods, sandboxPolicy{}); err != nil || ph.failed() > 0 {
		t.Fatalf("ADD of the two live pods: %v %v %v", err, ph.Errors, ph.FirstErrors)
	}
	t.Cleanup(func() {
		if _, err := delPods(c, pods); err != nil {
			t.Error(err)
		}
	})
	requireClean(t, c, pods, "before planting")
	a, b := pods[0], pods[1]
	addrA := podAddr(t, a)
	etcd, err := clientv3.New(clientv3.Config{Endpoints: c.etcd.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	ownerA := ipam.OwnerKey(ipamPrefix, a.rt.ContainerID, macvlanIf)

	cases := []struct {
		name  string
		want  violationKind
		plant func(t *testing.T) (undo func())
	}{
		{"a live pod's address also in another pod's netns", duplicateAddress, func(t *testing.T) func() {
			ipn := &net.IPNet{IP: addrA.AsSlice(), Mask: net.CIDRMask(32, 32)}
			must(t, inNetns(b.netns, func() error { return netlink.AddrAdd(linkByName(t, macvlanIf), &netlink.Addr{IPNet: ipn}) }))
			return func() {
				_ = inNetns(b.netns, func() error { return netlink.AddrDel(linkByName(t, macvlanIf), &netlink.Addr{IPNet: ipn}) })
			}
		}},
		{"an address two owners list in etcd", duplicateAddress, func(t *testing.T) func() {
			key := ipam.OwnerKey(ipamPrefix, "cplanteddup", macvlanIf)
			v := getKey(t, etcd, ownerA)
			var al ipam.Allocation
			must(t, json.Unmarshal(v, &al))
			al.ContainerID = "cplanteddup"
			return putKey(t, etcd, key, al)
		}},
		{"an allocation in etcd with no live pod", leakedAllocation, func(t *testing.T) func() {
			addr := netip.MustParseAddr("10.20.8.200")
			akey := ipam.NewScope(ipamPrefix, "").IPKey(addr)
			rec := ipam.Record{ContainerID: "cgone", IfName: macvlanIf, PodNamespace: "plant", PodName: "gone"}
			undoAddr := putKey(t, etcd, akey, rec)
			undoOwner := putKey(t, etcd, ipam.OwnerKey(ipamPrefix, "cgone", macvlanIf), ipam.Allocation{Record: rec,
				Addrs: []ipam.OwnedAddr{{Key: akey, Addr: addr, Subnet: netip.MustParsePrefix("10.20.8.0/24")}}})
			return func() { undoOwner(); undoAddr() }
		}},
		{"a live pod with an address etcd does not hold", missingAllocation, func(t *testing.T) func() {
			// A second sandbox of pod a, as if the IPAM had never recorded
			// its address: deleting a's own owner key instead would change
			// the key's CreateRevision, and Release rightly refuses then.
			netns, err := testutils.NewNS()
			must(t, err)
			must(t, inNetns(netns, func() error {
				if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: macvlanIf}, PeerName: "peer"}); err != nil {
					return err
				}
				ipn := &net.IPNet{IP: net.ParseIP("10.20.8.240").To4(), Mask: net.CIDRMask(24, 32)}
				return netlink.AddrAdd(linkByName(t, macvlanIf), &netlink.Addr{IPNet: ipn})
			}))
			rt := *a.rt
			rt.ContainerID = "cunrecorded"
			ghost := &podRun{namespace: a.namespace, name: a.name, node: a.node, netns: netns, rt: &rt, live: true}
			pods = append(pods, ghost)
			return func() { pods = pods[:len(pods)-1]; testenv.RemoveNS(netns) }
		}},
		{"a host veth of no pod", leakedLink, func(t *testing.T) func() {
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: routing.HostVethName("cgone", macvlanIf)}, PeerName: "plantpeer"}
			must(t, inNetns(a.node.netns(), func() error { return netlink.LinkAdd(veth) }))
			return func() { _ = inNetns(a.node.netns(), func() error { return netlink.LinkDel(veth) }) }
		}},
		{"a host route to an address no pod holds", leakedRoute, func(t *testing.T) func() {
			veth := routing.HostVethName(a.rt.ContainerID, macvlanIf)
			r := &netlink.Route{Dst: &net.IPNet{IP: net.ParseIP("10.20.8.201").To4(), Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_LINK}
			must(t, inNetns(a.node.netns(), func() error {
				r.LinkIndex = linkByName(t, veth).Attrs().Index
				return netlink.RouteAdd(r)
			}))
			return func() { _ = inNetns(a.node.netns(), func() error { return netlink.RouteDel(r) }) }
		}},
		{"an IPv4 ip rule on a node", leakedRule, func(t *testing.T) func() {
			return plantRule(t, a.node.netns(), "10.20.8.201/32", 100)
		}},
		{"an IPv6 ip rule in a live pod's netns", leakedRule, func(t *testing.T) func() {
			return plantRule(t, b.netns, "fd00:20::1/128", 32000)
		}},
		{"an nftables table of no pod", leakedTable, func(t *testing.T) func() {
			conn, err := nftables.New(nftables.WithNetNSFd(int(a.node.netns().Fd())))
			must(t, err)
			table := &nftables.Table{Name: routing.TableName("cgone", macvlanIf), Family: nftables.TableFamilyINet}
			conn.AddTable(table)
			must(t, conn.Flush())
			return func() { conn.DelTable(table); _ = conn.Flush() }
		}},
		{"an attachment record of no pod", leakedRecord, func(t *testing.T) func() {
			store := delegate.RecordStore{Dir: a.node.path("/var/lib/meta-cni/attachments")}
			must(t, store.Write(&delegate.Record{ContainerID: "cgone", IfName: "eth0", PodNamespace: "plant", PodName: "gone"}))
			return func() { _ = store.Remove("cgone") }
		}},
		{"a network-status journal entry of no pod", leakedRecord, func(t *testing.T) func() {
			path := a.node.path("/run/meta-cni/network-status/planted.json")
			must(t, os.WriteFile(path, []byte(`{"namespace":"plant","name":"gone","uid":"x","patch":{}}`), 0o600))
			return func() { os.Remove(path) }
		}},
		{"a cluster network lease of no pod", leakedRecord, func(t *testing.T) func() {
			path := filepath.Join(a.node.clusterDataDir(), clusterName, "10.244.0.250")
			must(t, os.WriteFile(path, []byte("cgone\neth0"), 0o600))
			return func() { os.Remove(path) }
		}},
		{"a network-status that differs from the netns", statusMismatch, func(t *testing.T) func() {
			pods := c.kube.Clientset().CoreV1().Pods(a.namespace)
			obj, err := pods.Get(ctx, a.name, metav1.GetOptions{})
			must(t, err)
			old := obj.Annotations[nadv1.NetworkStatusAnnot]
			patch := func(v string) error {
				b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{nadv1.NetworkStatusAnnot: v}}})
				_, err := pods.Patch(ctx, a.name, k8stypes.MergePatchType, b, metav1.PatchOptions{})
				return err
			}
			must(t, patch(`[{"name":"plant/macvlan","interface":"net1","ips":["10.20.8.250"]}]`))
			return func() { _ = patch(old) }
		}},
		{"a failed pod's netns with an interface left", halfConfigured, func(t *testing.T) func() {
			netns, err := testutils.NewNS()
			must(t, err)
			must(t, inNetns(netns, func() error {
				return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "left"})
			}))
			failed := &podRun{namespace: "plant", name: "failed", node: a.node, netns: netns, rt: a.rt}
			pods = append(pods, failed)
			return func() { pods = pods[:len(pods)-1]; testenv.RemoveNS(netns) }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			undo := tc.plant(t)
			v, err := checkInvariants(ctx, c, pods)
			undo()
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, x := range v {
				found = found || x.Kind == tc.want
			}
			if !found {
				t.Errorf("planted %s; want a %q violation, got %v", tc.name, tc.want, v)
			}
		})
	}
	requireClean(t, c, pods, "after every plant was taken away")
}

// plantRule adds "from src lookup table" in netns, as a policy-routing
// plugin would for src, and returns how to remove it.
func plantRule(t *testing.T, netns ns.NetNS, src string, table int) func() {
	t.Helper()
	r := netlink.NewRule()
	_, r.Src, _ = net.ParseCIDR(src)
	r.Table, r.Priority = table, 1000
	if r.Src.IP.To4() == nil {
		r.Family = netlink.FAMILY_V6
	} else {
		r.Family = netlink.FAMILY_V4
	}
	must(t, inNetns(netns, func() error { return netlink.RuleAdd(r) }))
	return func() { _ = inNetns(netns, func() error { return netlink.RuleDel(r) }) }
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func inNetns(netns ns.NetNS, fn func() error) error {
	return netns.Do(func(ns.NetNS) error { return fn() })
}

// linkByName is for use inside inNetns.
func linkByName(t *testing.T, name string) netlink.Link {
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Errorf("link %s: %v", name, err)
		return &netlink.Dummy{}
	}
	return l
}

// podAddr is the address on the pod's net1.
func podAddr(t *testing.T, p *podRun) netip.Addr {
	t.Helper()
	ips, err := testenv.LinkAddrs(p.netns, macvlanIf)
	if err != nil || len(ips) == 0 {
		t.Fatalf("pod %s: no address on %s: %v", p.key(), macvlanIf, err)
	}
	a, _ := netip.AddrFromSlice(ips[0])
	return a.Unmap()
}

func getKey(t *testing.T, cli *clientv3.Client, key string) []byte {
	t.Helper()
	resp, err := cli.Get(context.Background(), key)
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("etcd get %s: %v (%d keys)", key, err, len(resp.Kvs))
	}
	return resp.Kvs[0].Value
}

// putKey writes v as JSON at key and returns how to delete it again.
func putKey(t *testing.T, cli *clientv3.Client, key string, v any) func() {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	if _, err := cli.Put(context.Background(), key, string(b)); err != nil {
		t.Fatalf("etcd put %s: %v", key, err)
	}
	return func() { _, _ = cli.Delete(context.Background(), key) }
}
