package realnode

import (
	"fmt"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/meta-cni/meta-cni/internal/testenv"
)

// The underlay is a datacenter VLAN the examples/ files name: every node's
// second NIC, UnderlayMaster, is a port of a second bridge in the fabric
// netns, with the node's address 10.10.20.<10+i>. etcd-ipam's etcd sits on
// it at UnderlayEtcdIP, as examples/values-underlay.yaml says (a relay in
// the fabric netns to the IPAM etcd on the machine's loopback). Nobody
// answers at UnderlayGateway, as on the eth0 fabric: the fabric forwards
// nothing.
const (
	UnderlayMaster  = "ens3"
	UnderlaySubnet  = "10.10.20.0/24"
	UnderlayGateway = "10.10.20.254"
	UnderlayEtcdIP  = "10.10.20.152"
	// UnderlayEtcdPort is the etcd client port behind UnderlayEtcdIP.
	UnderlayEtcdPort = "2379"
	underlayBridge   = "underlay0"
	underlayNodeIP   = "10.10.20.%d"
	// UnderlaySubnet6 is the underlay's IPv6 half (examples/nad-dual-stack.yaml):
	// a dual-stack node has an address of each family on it, and
	// host-route routes a pod's IPv6 Service CIDR through the IPv6 one.
	UnderlaySubnet6 = "fd00:10:20::/64"
	underlayNodeIP6 = "fd00:10:20::%x"
)

func underlayIP(i int) string  { return fmt.Sprintf(underlayNodeIP, 10+i) }
func underlayIP6(i int) string { return fmt.Sprintf(underlayNodeIP6, 10+i) }

// underlayPort is node's port on underlay0 in the fabric netns.
func underlayPort(node string) string { return node + "-ul" }

// addUnderlayBridge adds underlay0 to the fabric netns, with the etcd
// host's address on it.
func addUnderlayBridge(fabric string) error {
	for _, argv := range [][]string{
		{"ip", "-n", fabric, "link", "add", underlayBridge, "type", "bridge"},
		{"ip", "-n", fabric, "link", "set", underlayBridge, "up"},
		{"ip", "-n", fabric, "addr", "add", UnderlayEtcdIP + "/24", "dev", underlayBridge},
	} {
		if err := run(argv...); err != nil {
			return fmt.Errorf("create underlay bridge in fabric netns %s: %w", fabric, err)
		}
	}
	return nil
}

// underlayNICCmds plug node i's UnderlayMaster into underlay0 with the
// node's underlay addresses (IPv6 without DAD: the node owns it, and
// host-route needs it at once). No route goes by it but its subnets'.
func underlayNICCmds(fabric, netns, node string, i int) [][]string {
	port := underlayPort(node)
	return [][]string{
		{"ip", "-n", fabric, "link", "add", port, "type", "veth", "peer", "name", UnderlayMaster, "netns", netns},
		{"ip", "-n", fabric, "link", "set", port, "master", underlayBridge, "up"},
		{"ip", "-n", netns, "addr", "add", underlayIP(i) + "/24", "dev", UnderlayMaster},
		{"ip", "-n", netns, "-6", "addr", "add", underlayIP6(i) + "/64", "dev", UnderlayMaster, "nodad"},
		{"ip", "-n", netns, "link", "set", UnderlayMaster, "up"},
	}
}

// relayUnderlayEtcd serves UnderlayEtcdIP:UnderlayEtcdPort in the fabric
// netns by the IPAM etcd's first loopback endpoint. TLS passes through:
// the server's certificate names UnderlayEtcdIP too (see examplesPKI).
func (c *Cluster) relayUnderlayEtcd() error {
	netns, err := ns.GetNS(netnsPath(c.FabricNS))
	if err != nil {
		return fmt.Errorf("open fabric netns %s: %w", c.FabricNS, err)
	}
	defer netns.Close()
	u := c.IPAMEtcd.Endpoints()[0]
	local := u[strings.Index(u, "://")+3:]
	if c.underlayEtcd, err = testenv.ForwardIntoNSTo(netns, UnderlayEtcdIP+":"+UnderlayEtcdPort, local); err != nil {
		return fmt.Errorf("relay etcd-ipam's etcd onto the underlay at %s: %w", UnderlayEtcdIP, err)
	}
	return nil
}
