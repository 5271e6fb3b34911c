package realnode

import (
	"fmt"
	"os"
)

// The fabric is the "switch" the nodes' uplinks plug into: a netns holding
// one bridge, with one veth per node. A macvlan on a node's eth0 then has a
// real L2 shared with the other nodes, and nothing touches the machine's
// own links or routes.
const (
	fabricBridge = "fabric0"
	nodeUplink   = "eth0"
	// nodeNet holds the nodes' uplink addresses, .10 upwards.
	nodeNet = "10.250.0.%d"
	// podNet is the cluster network: one /24 per node.
	podNet = "10.244.%d.0/24"
	// MacvlanSubnet is free on the fabric's L2 for macvlan networks on the
	// nodes' eth0 (MacvlanMaster); no node address is in it.
	MacvlanSubnet = "10.250.1.0/24"
	MacvlanMaster = nodeUplink
)

func nodeIP(i int) string       { return fmt.Sprintf(nodeNet, 10+i) }
func podSubnet(i int) string    { return fmt.Sprintf(podNet, i) }
func netnsPath(n string) string { return "/run/netns/" + n }

// addFabric creates the fabric netns with its bridge up.
func addFabric(netns string) error {
	for _, argv := range [][]string{
		{"ip", "netns", "add", netns},
		{"ip", "-n", netns, "link", "set", "lo", "up"},
		{"ip", "-n", netns, "link", "add", fabricBridge, "type", "bridge"},
		{"ip", "-n", netns, "link", "set", fabricBridge, "up"},
	} {
		if err := run(argv...); err != nil {
			return fmt.Errorf("create fabric netns %s: %w", netns, err)
		}
	}
	return addUnderlayBridge(netns)
}

// addNodeNet creates node i's netns, its eth0 plugged into the fabric with
// the node's address, and routes to the other nodes' pod subnets via them
// (the job flannel's host-gw does on a real cluster).
func addNodeNet(fabric, netns, port string, i, nodes int) error {
	cmds := [][]string{
		{"ip", "netns", "add", netns},
		{"ip", "-n", netns, "link", "set", "lo", "up"},
		{"ip", "-n", fabric, "link", "add", port, "type", "veth", "peer", "name", nodeUplink, "netns", netns},
		{"ip", "-n", fabric, "link", "set", port, "master", fabricBridge, "up"},
		{"ip", "-n", netns, "addr", "add", nodeIP(i) + "/24", "dev", nodeUplink},
		{"ip", "-n", netns, "link", "set", nodeUplink, "up"},
		// A real node's default route: kube-proxy's ClusterIPs need one,
		// since the node's own connect() is routed before its DNAT. The
		// fabric forwards nothing, so nothing leaves by it.
		{"ip", "-n", netns, "route", "add", "default", "via", ControlPlaneIP},
	}
	cmds = append(cmds, underlayNICCmds(fabric, netns, port, i)...)
	for j := 0; j < nodes; j++ {
		if j != i {
			cmds = append(cmds, []string{"ip", "-n", netns, "route", "add", podSubnet(j), "via", nodeIP(j)})
		}
	}
	for _, argv := range cmds {
		if err := run(argv...); err != nil {
			return fmt.Errorf("create node netns %s: %w", netns, err)
		}
	}
	return nil
}

// delNetns removes a netns made here (its veths go with it); a netns
// already gone is fine.
func delNetns(netns string) error {
	if netns == "" {
		return nil
	}
	if _, err := os.Stat(netnsPath(netns)); os.IsNotExist(err) {
		return nil
	}
	return run("ip", "netns", "del", netns)
}
