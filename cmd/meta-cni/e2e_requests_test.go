package main_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/vishvananda/netlink"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

func TestDefaultNetworkOverrideReplacesClusterNetworkOnEth0(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list := f.metaConfList("1.0.0")
	sb := f.newPod("under", map[string]string{"v1.multus-cni.io/default-network": f.namespace + "/macvlan-b"})
	res, err := f.node.Add(ctx, list, sb.rt)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, sb.ns)
	eth0 := requireIn(t, got, "eth0", "192.168.92.0/24")
	if len(got) != 2 {
		t.Fatalf("pod has links %v, want lo and eth0 only", keys(got))
	}
	r100, _ := types100.NewResultFromResult(res)
	if len(r100.IPs) != 1 || !r100.IPs[0].Address.IP.Equal(eth0) {
		t.Fatalf("result %v does not report the override network's address %s", r100.IPs, eth0)
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

// As in Multus (k8sclient.GetDefaultNetworks), systemNamespaces only skips
// defaultNetworks; a system pod's own annotations count like any pod's.
func TestSystemNamespacePodsSkipDefaultNetworksButKeepTheirAnnotations(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sys := f.namespace + "-sys"
	f.metaExtra = map[string]any{"systemNamespaces": []string{sys}, "defaultNetworks": []string{f.namespace + "/macvlan-b"}}
	list := f.metaConfList("1.0.0")
	networks := map[string]string{"k8s.v1.cni.cncf.io/networks": f.namespace + "/macvlan-a"}
	cases := []struct {
		name, namespace string
		annotations     map[string]string
		want            map[string]string // interface -> subnet
	}{
		{"dns", sys, networks, map[string]string{"eth0": clusterSubnet, "net1": "192.168.91.0/24"}},
		{"app", f.namespace, networks, map[string]string{"eth0": clusterSubnet, "net1": "192.168.92.0/24", "net2": "192.168.91.0/24"}},
		{"plain", sys, nil, map[string]string{"eth0": clusterSubnet}},
		{"override", sys, map[string]string{"v1.multus-cni.io/default-network": f.namespace + "/macvlan-a"},
			map[string]string{"eth0": "192.168.91.0/24"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb := f.newPodIn(c.namespace, c.name, c.annotations)
			if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
				t.Fatalf("ADD: %v", err)
			}
			got := addrs(t, sb.ns)
			for ifname, subnet := range c.want {
				requireIn(t, got, ifname, subnet)
			}
			if len(got) != len(c.want)+1 {
				t.Errorf("pod in %s has links %v, want lo and %v", c.namespace, keys(got), keys(c.want))
			}
			if err := f.node.Del(ctx, list, sb.rt); err != nil {
				t.Fatal(err)
			}
			f.assertClean(sb)
		})
	}
}

func TestNonKubernetesCallerGetsTheClusterNetworkOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list := f.metaConfList("1.0.0")
	netns := testenv.NewNS(t)
	rt := &libcni.RuntimeConf{ContainerID: "plain1", NetNS: netns.Path(), IfName: "eth0"}
	if _, err := f.node.Add(ctx, list, rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, netns)
	requireIn(t, got, "eth0", clusterSubnet)
	if len(got) != 2 {
		t.Fatalf("links %v, want lo and eth0", keys(got))
	}
	if err := f.node.Del(ctx, list, rt); err != nil {
		t.Fatal(err)
	}
	f.assertClean(nil)
}

// A selection's ips and mac reach a delegate as runtimeConfig when it
// declares the capability, and, as Multus (multus.DelegateAdd) passes them,
// as the CNI_ARGS IP and MAC on ADD, which macvlan and host-local read
// without it.
func TestJSONAnnotationRequestsReachDelegatesAsCapabilitiesAndCNIArgs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	capable := `{"cniVersion": "1.0.0", "type": "macvlan", "master": "ens3", "mode": "bridge",
  "capabilities": {"ips": true, "mac": true},
  "ipam": {"type": "host-local", "subnet": "192.168.96.0/24", "dataDir": "` + f.ipamDir + `"}}`
	f.createNAD(f.namespace, "capable", capable)
	list := f.metaConfList("1.1.0")
	annotation := `[{"name":"capable","interface":"net9","ips":["192.168.96.205/24"],"mac":"c2:b0:57:49:47:f1","default-route":["192.168.96.1"]},` +
		`{"name":"macvlan-a","ips":["192.168.91.250/24"],"mac":"c2:b0:57:49:47:f2"}]`
	sb := f.newPod("caps", map[string]string{"k8s.v1.cni.cncf.io/networks": annotation})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, sb.ns)
	if ip := requireIn(t, got, "net9", "192.168.96.0/24"); ip.String() != "192.168.96.205" {
		t.Errorf("net9 got %s, want the requested 192.168.96.205", ip)
	}
	if mac := macOf(t, sb.ns, "net9"); mac != "c2:b0:57:49:47:f1" {
		t.Errorf("net9 MAC %s, want the requested c2:b0:57:49:47:f1", mac)
	}
	// macvlan-a declares no capability: its plugins read the requests from
	// CNI_ARGS.
	if ip := requireIn(t, got, "net2", "192.168.91.0/24"); ip.String() != "192.168.91.250" {
		t.Errorf("net2 got %s, want the requested 192.168.91.250 from CNI_ARGS IP", ip)
	}
	if mac := macOf(t, sb.ns, "net2"); mac != "c2:b0:57:49:47:f2" {
		t.Errorf("net2 MAC %s, want the requested c2:b0:57:49:47:f2 from CNI_ARGS MAC", mac)
	}
	// default-route moved the pod's default route to net9.
	var defaults []string
	err := sb.ns.Do(func(ns.NetNS) error {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				link, _ := netlink.LinkByIndex(r.LinkIndex)
				defaults = append(defaults, link.Attrs().Name+" via "+r.Gw.String())
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(defaults) != 1 || defaults[0] != "net9 via 192.168.96.1" {
		t.Errorf("default routes %v, want only net9 via 192.168.96.1", defaults)
	}
	var status []nadv1.NetworkStatus
	_ = json.Unmarshal([]byte(f.getPod(sb).Annotations[nadv1.NetworkStatusAnnot]), &status)
	// As in Multus, network-status reports each delegate's own result:
	// default stays on the cluster network, and net9's result has no
	// default route, so no gateway.
	if len(status) != 3 {
		t.Fatalf("network-status has %d entries, want 3: %+v", len(status), status)
	}
	for _, st := range status {
		if st.Default != (st.Interface == "eth0") || len(st.Gateway) != 0 {
			t.Errorf("network-status of %s has default=%v gateway=%v; want default only on eth0, no gateway", st.Interface, st.Default, st.Gateway)
		}
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatal(err)
	}
	f.assertClean(sb)
}

func TestClusterNetworkFromANADAttachesLikeAConfFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	netns := f.namespace + "-cluster"
	f.createNAD(netns, "pod-network", `{"cniVersion": "1.0.0", "name": "pod-network",
  "plugins": [{"type": "bridge", "bridge": "cni2", "isGateway": true,
    "ipam": {"type": "host-local", "subnet": "10.245.1.0/24", "dataDir": "`+f.ipamDir+`"}}]}`)
	f.keepLinks = append(f.keepLinks, "cni2")
	for _, ref := range []string{netns + "/pod-network", "pod-network"} {
		t.Run(ref, func(t *testing.T) {
			f.metaExtra = map[string]any{"clusterNetwork": ref, "multusNamespace": netns}
			list := f.metaConfList("1.0.0")
			sb := f.newPod("nadcluster-"+strings.ReplaceAll(ref, "/", "-"), map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
			if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
				t.Fatalf("ADD: %v", err)
			}
			got := addrs(t, sb.ns)
			requireIn(t, got, "eth0", "10.245.1.0/24")
			requireIn(t, got, "net1", "192.168.91.0/24")
			if err := f.node.Del(ctx, list, sb.rt); err != nil {
				t.Fatal(err)
			}
			f.assertClean(sb)
		})
	}
}
