package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// macvlan calls etcd-ipam through libcni as a runtime would: the pods'
// interfaces get the addresses etcd holds for them, CHECK passes, and DEL
// frees both the link and the keys. Plugins run in the host netns, as under
// a runtime, so etcd on loopback is reachable; the macvlan master is a veth
// whose peer sits in a "wire" netns of the test's own.
func TestMacvlanWithEtcdIPAMInRealNetns(t *testing.T) {
	testenv.RequireRoot(t)
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	cniPath := testenv.MustCNIPath(t)
	master := setupMaster(t)

	list, err := libcni.ConfListFromBytes([]byte(fmt.Sprintf(`{
		"cniVersion": "1.0.0", "name": "underlay",
		"plugins": [{"type": "macvlan", "master": %q, "mode": "bridge",
			"ipam": {"type": "etcd-ipam", "subnet": "10.50.0.0/24", "rangeStart": "10.50.0.10", "gateway": "10.50.0.1",
				"routes": [{"dst": "0.0.0.0/0"}], "etcd": {"endpoints": [%q], "prefix": %q}}}]}`, master, r.cluster.Endpoints()[0], r.prefix)))
	if err != nil {
		t.Fatal(err)
	}
	cninet := libcni.NewCNIConfig([]string{cniPath}, nil)

	type pod struct {
		netns ns.NetNS
		rt    *libcni.RuntimeConf
		addr  string
	}
	var pods []*pod
	for i := 0; i < 2; i++ {
		p := &pod{netns: testenv.NewNS(t)}
		p.rt = &libcni.RuntimeConf{
			ContainerID: fmt.Sprintf("netns-pod-%d", i), NetNS: p.netns.Path(), IfName: "net1",
			Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", fmt.Sprint("web-", i)}},
		}
		var res *current.Result
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := cninet.AddNetworkList(ctx, list, p.rt)
		cancel()
		if err == nil {
			res, err = current.NewResultFromResult(out)
		}
		if err != nil {
			t.Fatalf("ADD pod %d: %v", i, err)
		}
		if len(res.IPs) != 1 {
			t.Fatalf("pod %d result: %+v", i, res)
		}
		p.addr = res.IPs[0].Address.String()
		if want := fmt.Sprintf("10.50.0.%d/24", 10+i); p.addr != want {
			t.Fatalf("pod %d got %s, want %s", i, p.addr, want)
		}
		// The address is on the pod's interface.
		err = p.netns.Do(func(ns.NetNS) error {
			l, err := netlink.LinkByName("net1")
			if err != nil {
				return err
			}
			addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if a.IPNet.String() == p.addr {
					return nil
				}
			}
			return fmt.Errorf("net1 has %v, not %s", addrs, p.addr)
		})
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		if len(r.keys("/owners/"+p.rt.ContainerID+"/net1")) != 1 {
			t.Fatalf("pod %d: no owner key", i)
		}
		pods = append(pods, p)
	}

	for i, p := range pods {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cninet.CheckNetworkList(ctx, list, p.rt)
		if err == nil {
			err = cninet.DelNetworkList(ctx, list, p.rt)
		}
		cancel()
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		err = p.netns.Do(func(ns.NetNS) error {
			if _, err := netlink.LinkByName("net1"); err == nil {
				return fmt.Errorf("net1 still exists after DEL")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
	}
	if left := r.allocationKeys(); len(left) != 0 {
		t.Fatalf("keys left after DEL: %v", left)
	}
}

// setupMaster makes a veth pair: one end in the host netns, named for this
// test and removed after it, the other in a fresh "wire" netns.
func setupMaster(t *testing.T) string {
	t.Helper()
	wire := testenv.NewNS(t)
	name := fmt.Sprintf("eim%d", time.Now().UnixNano()%1_000_000)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p", PeerNamespace: netlink.NsFd(int(wire.Fd()))}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(name); err == nil {
			_ = netlink.LinkDel(l)
		}
	})
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	err = wire.Do(func(ns.NetNS) error {
		peer, err := netlink.LinkByName(name + "p")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(peer)
	})
	if err != nil {
		t.Fatalf("wire end: %v", err)
	}
	return name
}
