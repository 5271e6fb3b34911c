package main

import (
	"context"
	"fmt"
	"net/url"
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
// frees both the link and the keys. The plugins run inside a node netns of
// the test's own (testenv.Node: its macvlan master is a veth to a "wire"
// netns), and reach etcd through a loopback relay into that netns.
func TestMacvlanWithEtcdIPAMInRealNetns(t *testing.T) {
	testenv.RequireRoot(t)
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	node := testenv.NewNode(t, "ens3")
	etcdURL, err := url.Parse(r.cluster.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	testenv.ForwardIntoNST(t, node.NS, etcdURL.Host)

	list, err := libcni.ConfListFromBytes([]byte(fmt.Sprintf(`{
		"cniVersion": "1.0.0", "name": "underlay",
		"plugins": [{"type": "macvlan", "master": %q, "mode": "bridge",
			"ipam": {"type": "etcd-ipam", "subnet": "10.50.0.0/24", "rangeStart": "10.50.0.10", "gateway": "10.50.0.1",
				"routes": [{"dst": "0.0.0.0/0"}], "etcd": {"endpoints": [%q], "prefix": %q}}}]}`, node.Master, r.cluster.Endpoints()[0], r.prefix)))
	if err != nil {
		t.Fatal(err)
	}

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
		out, err := node.Add(ctx, list, p.rt)
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
		err := node.Check(ctx, list, p.rt)
		if err == nil {
			err = node.Del(ctx, list, p.rt)
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
