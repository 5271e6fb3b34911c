package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
)

// Node stands in for a Kubernetes node. Its host side is a netns of its
// own, so plugins never touch the machine's network. Its uplink Master (a
// veth, since this kernel has no dummy links) has its peer in a Wire netns,
// and serves as the macvlan master. Runtime calls run inside NS, the way a
// kubelet's CNI calls run in the node's root namespace.
type Node struct {
	NS      ns.NetNS
	Wire    ns.NetNS
	Master  string
	CNIPath string
	Dir     string // scratch space: confs, caches, IPAM data
}

// NewNode builds a node netns with a master link named master and the
// CNI binaries on its path. Everything is removed when the test ends.
func NewNode(t testing.TB, master string) *Node {
	t.Helper()
	RequireRoot(t)
	n, err := StartNode(t.TempDir(), master)
	if err != nil {
		t.Fatalf("build node: %v", err)
	}
	t.Cleanup(n.Close)
	return n
}

// StartNode is NewNode outside tests, for the demo and benchmarks; call
// Close when done.
func StartNode(dir, master string) (*Node, error) {
	cniPath, err := CNIPath()
	if err != nil {
		return nil, err
	}
	n := &Node{Master: master, CNIPath: cniPath, Dir: dir}
	if n.NS, err = testutils.NewNS(); err != nil {
		return nil, err
	}
	if n.Wire, err = testutils.NewNS(); err != nil {
		n.Close()
		return nil, err
	}
	if err := plugUplink(n.NS, master, n.Wire, "wire0", ""); err != nil {
		n.Close()
		return nil, fmt.Errorf("build node: %w", err)
	}
	return n, nil
}

// plugUplink gives node its loopback and an uplink named master: a veth
// whose peer, named peer, is in other, both up; with bridge set the peer
// is a port of that bridge in other.
func plugUplink(node ns.NetNS, master string, other ns.NetNS, peer, bridge string) error {
	err := node.Do(func(ns.NetNS) error {
		if lo, err := netlink.LinkByName("lo"); err == nil {
			_ = netlink.LinkSetUp(lo)
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: master}, PeerName: peer, PeerNamespace: netlink.NsFd(int(other.Fd()))}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("add master veth %s: %w", master, err)
		}
		link, err := netlink.LinkByName(master)
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(link)
	})
	if err != nil {
		return err
	}
	return other.Do(func(ns.NetNS) error {
		link, err := netlink.LinkByName(peer)
		if err != nil {
			return err
		}
		if bridge != "" {
			br, err := netlink.LinkByName(bridge)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetMaster(link, br); err != nil {
				return fmt.Errorf("plug %s into %s: %w", peer, bridge, err)
			}
		}
		return netlink.LinkSetUp(link)
	})
}

// Close removes the node's namespaces and everything in them.
func (n *Node) Close() {
	for _, netns := range []ns.NetNS{n.NS, n.Wire} {
		if netns != nil {
			RemoveNS(netns)
		}
	}
}

// CNI is a libcni instance as a runtime would hold it, caching results
// under the node's scratch directory.
func (n *Node) CNI() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir([]string{n.CNIPath}, filepath.Join(n.Dir, "runtime-cache"), nil)
}

// WriteFile writes a file under the node's scratch directory.
func (n *Node) WriteFile(t testing.TB, rel string, data []byte) string {
	t.Helper()
	path := filepath.Join(n.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Add runs ADD of a conflist from inside the node, as a runtime does.
func (n *Node) Add(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (types.Result, error) {
	var res types.Result
	err := n.NS.Do(func(ns.NetNS) error {
		var err error
		res, err = n.CNI().AddNetworkList(ctx, list, rt)
		return err
	})
	return res, err
}

// Check runs CHECK from inside the node.
func (n *Node) Check(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	return n.NS.Do(func(ns.NetNS) error { return n.CNI().CheckNetworkList(ctx, list, rt) })
}

// Del runs DEL from inside the node.
func (n *Node) Del(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	return n.NS.Do(func(ns.NetNS) error { return n.CNI().DelNetworkList(ctx, list, rt) })
}

// GC runs GC from inside the node.
func (n *Node) GC(ctx context.Context, list *libcni.NetworkConfigList, args *libcni.GCArgs) error {
	return n.NS.Do(func(ns.NetNS) error { return n.CNI().GCNetworkList(ctx, list, args) })
}

// Status runs STATUS from inside the node.
func (n *Node) Status(ctx context.Context, list *libcni.NetworkConfigList) error {
	return n.NS.Do(func(ns.NetNS) error { return n.CNI().GetStatusNetworkList(ctx, list) })
}

// Links lists the link names in a namespace.
func Links(netns ns.NetNS) ([]string, error) {
	var names []string
	err := netns.Do(func(ns.NetNS) error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		return nil
	})
	return names, err
}
