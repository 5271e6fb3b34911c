package testenv

import (
	"fmt"
	"sync"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
)

// FabricBridge is the bridge in a Fabric's netns that every node's uplink
// is a port of.
const FabricBridge = "fabric0"

// Fabric is one L2 segment that several Nodes share, so macvlan pods on
// different nodes see each other as on one datacenter VLAN. It is a netns
// holding a bridge; each node's master is a veth whose peer is a port of
// that bridge. A Node of its own (NewNode) has a private Wire instead.
type Fabric struct {
	NS ns.NetNS

	mu    sync.Mutex
	ports int
}

// StartFabric makes the fabric netns and its bridge; call Close when done.
func StartFabric() (*Fabric, error) {
	netns, err := testutils.NewNS()
	if err != nil {
		return nil, fmt.Errorf("create fabric netns: %w", err)
	}
	f := &Fabric{NS: netns}
	err = netns.Do(func(ns.NetNS) error {
		if lo, err := netlink.LinkByName("lo"); err == nil {
			_ = netlink.LinkSetUp(lo)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: FabricBridge}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %s: %w", FabricBridge, err)
		}
		return netlink.LinkSetUp(br)
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("build fabric: %w", err)
	}
	return f, nil
}

// NewFabric is StartFabric for tests, removed at cleanup (after the nodes
// made on it, which register their cleanup later).
func NewFabric(t testing.TB) *Fabric {
	t.Helper()
	RequireRoot(t)
	f, err := StartFabric()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// StartNode builds a node whose master link is plugged into the fabric.
// The node has no Wire of its own; Close removes only its netns.
func (f *Fabric) StartNode(dir, master string) (*Node, error) {
	cniPath, err := CNIPath()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.ports++
	port := fmt.Sprintf("port%d", f.ports)
	f.mu.Unlock()
	n := &Node{Master: master, CNIPath: cniPath, Dir: dir}
	if n.NS, err = testutils.NewNS(); err != nil {
		return nil, fmt.Errorf("create node netns: %w", err)
	}
	if err := plugUplink(n.NS, master, f.NS, port, FabricBridge); err != nil {
		n.Close()
		return nil, fmt.Errorf("build node on fabric: %w", err)
	}
	return n, nil
}

// NewNode is StartNode for tests, removed at cleanup.
func (f *Fabric) NewNode(t testing.TB, master string) *Node {
	t.Helper()
	n, err := f.StartNode(t.TempDir(), master)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// Close removes the fabric's netns, and with it every port still there.
func (f *Fabric) Close() {
	if f.NS != nil {
		RemoveNS(f.NS)
	}
}
