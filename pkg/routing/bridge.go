package routing

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// bridgeAlias marks a sub-interface host-route created, and so may delete.
// One an administrator made is used but never deleted.
const bridgeAlias = "meta-cni host-route shared macvlan bridge"

// bridgePlan is everything macvlan-bridge mode needs, computed before the
// first change.
type bridgePlan struct {
	Master          netlink.Link
	Name            string
	Metric          int
	PodIPs, HostIPs []net.IP
	CIDRs           []*net.IPNet
}

// newBridgePlan resolves the master and the sub-interface's name.
func newBridgePlan(c *Config, a Attachment, podNS ns.NetNS, podIPs, hostIPs []net.IP) (bridgePlan, error) {
	p := bridgePlan{
		Metric: attachmentMetric(a.ContainerID, a.IfName),
		PodIPs: podIPs, HostIPs: hostIPs,
		CIDRs: c.routedCIDRs(),
	}
	var err error
	if p.Master, err = resolveMaster(c, a, podNS); err != nil {
		return p, err
	}
	p.Name = c.Bridge
	if p.Name == "" {
		p.Name = DefaultBridgeName(p.Master.Attrs().Name)
	}
	return p, nil
}

// resolveMaster is master, else hostInterface, else the host link the pod's
// macvlan hangs off.
func resolveMaster(c *Config, a Attachment, podNS ns.NetNS) (netlink.Link, error) {
	switch {
	case c.Master != "":
		return hostLink("master", c.Master)
	case c.HostInterface != "":
		return hostLink("hostInterface", c.HostInterface)
	case podNS == nil:
		return nil, configErr("master", "not set, and the pod's netns is gone so its macvlan parent cannot be found")
	}
	return podParent(a.IfName, podNS)
}

// podParent finds the host link behind the pod's interface: IFLA_LINK of a
// macvlan made in the host and moved to the pod is the master's host index.
func podParent(ifName string, podNS ns.NetNS) (netlink.Link, error) {
	var parent int
	if err := podNS.Do(func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(ifName)
		if err != nil {
			if isGone(err) {
				return configErr("master", "not set, and pod interface %s, whose parent it defaults to, is gone", ifName)
			}
			return fmt.Errorf("find pod interface %s: %w", ifName, err)
		}
		if _, ok := link.(*netlink.Macvlan); !ok {
			return configErr("master", "not set, and pod interface %s is a %s, not a macvlan whose parent it could default to", ifName, link.Type())
		}
		parent = link.Attrs().ParentIndex
		return nil
	}); err != nil {
		return nil, err
	}
	if parent == 0 {
		return nil, configErr("master", "not set, and pod interface %s has no parent link", ifName)
	}
	link, err := netlink.LinkByIndex(parent)
	if err != nil {
		return nil, configErr("master", "not set, and the parent (index %d) of pod interface %s is not in this namespace: %v", parent, ifName, err)
	}
	return link, nil
}

// addBridge ensures the shared sub-interface and the host routes under the
// node's lock, then installs the pod's routes through its own interface.
func addBridge(ctx context.Context, p bridgePlan, a Attachment, podNS ns.NetNS) (err error) {
	// Reject a CIDR without a host IP of its family before the first change.
	if _, err := podSide(0, p.PodIPs, p.HostIPs, p.CIDRs, nil); err != nil {
		return err
	}
	unlock, err := lockNetns(ctx, p.Name)
	if err != nil {
		return err
	}
	bridge, err := ensureBridge(p.Master, p.Name)
	if err != nil {
		unlock()
		return err
	}
	// Runs after unlock: delBridgeHost takes the lock itself.
	defer func() {
		if err != nil {
			_ = delBridgePod(a, podNS)
			_ = delBridgeHost(ctx, p.Name, p.Metric)
		}
	}()
	err = hostSide(bridge.Attrs().Index, p.PodIPs, p.HostIPs, nil, p.Metric).apply()
	unlock()
	if err != nil {
		return err
	}
	return podNS.Do(func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(a.IfName)
		if err != nil {
			return fmt.Errorf("find pod interface %s: %w", a.IfName, err)
		}
		side, err := podSide(link.Attrs().Index, p.PodIPs, p.HostIPs, p.CIDRs, bridge.Attrs().HardwareAddr)
		if err != nil {
			return err
		}
		return side.apply()
	})
}

// ensureBridge returns the sub-interface, creating it when absent. The
// caller holds the lock.
func ensureBridge(master netlink.Link, name string) (netlink.Link, error) {
	link, err := netlinksafe.LinkByName(name)
	if err == nil {
		if !isBridgeOn(link, master) {
			return nil, configErr("bridge", "%q exists but is not a bridge-mode macvlan on %s", name, master.Attrs().Name)
		}
		if link.Attrs().Flags&net.FlagUp == 0 {
			if err := netlink.LinkSetUp(link); err != nil {
				return nil, fmt.Errorf("set %s up: %w", name, err)
			}
		}
		return link, nil
	}
	if !isGone(err) {
		return nil, fmt.Errorf("find %s: %w", name, err)
	}
	mv := &netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{
			Name:         name,
			ParentIndex:  master.Attrs().Index,
			MTU:          master.Attrs().MTU,
			HardwareAddr: bridgeMAC(master.Attrs().HardwareAddr, name),
		},
		Mode: netlink.MACVLAN_MODE_BRIDGE,
	}
	if err := netlink.LinkAdd(mv); err != nil {
		return nil, fmt.Errorf("create macvlan %s on %s: %w", name, master.Attrs().Name, err)
	}
	link, err = setUpBridge(name)
	if err != nil {
		_ = deleteLinkByName(name)
		return nil, err
	}
	return link, nil
}

// setUpBridge marks the new sub-interface as ours (the kernel ignores an
// alias given at creation), lets it forward (the pod's Service traffic
// enters here), and keeps it from answering ARP on the wire for the host's
// addresses: pods get a fixed neighbour entry instead.
func setUpBridge(name string) (netlink.Link, error) {
	link, err := netlinksafe.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find new macvlan %s: %w", name, err)
	}
	if err := netlink.LinkSetAlias(link, bridgeAlias); err != nil {
		return nil, fmt.Errorf("set alias of %s: %w", name, err)
	}
	if err := forwardLink(name, true); err != nil {
		return nil, err
	}
	if err := setLinkSysctl("ipv4", name, "arp_ignore", "1"); err != nil {
		return nil, err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("set %s up: %w", name, err)
	}
	return link, nil
}

// delBridgeHost removes the attachment's host routes on the sub-interface
// name, found by their metric, and the sub-interface itself once no
// host-route route uses it, if host-route made it.
func delBridgeHost(ctx context.Context, name string, metric int) error {
	unlock, err := lockNetns(ctx, name)
	if err != nil {
		return err
	}
	defer unlock()
	link, err := netlinksafe.LinkByName(name)
	if err != nil {
		if isGone(err) {
			return nil
		}
		return fmt.Errorf("find %s: %w", name, err)
	}
	routes, err := ownRoutes(link)
	if err != nil {
		return err
	}
	left := 0
	for i := range routes {
		if routes[i].Priority != metric {
			left++
			continue
		}
		if err := netlink.RouteDel(&routes[i]); err != nil && !isGone(err) {
			return fmt.Errorf("delete route %s: %w", routes[i].Dst, err)
		}
	}
	if left > 0 || link.Attrs().Alias != bridgeAlias {
		return nil
	}
	return deleteLinkByName(name)
}

// isBridgeOn is true for a bridge-mode macvlan on master.
func isBridgeOn(link, master netlink.Link) bool {
	mv, ok := link.(*netlink.Macvlan)
	return ok && mv.Mode == netlink.MACVLAN_MODE_BRIDGE && mv.ParentIndex == master.Attrs().Index
}

// ownBridges lists the sub-interfaces host-route made: DEL's last resort
// when neither the config nor the pod tells it which one the pod used.
func ownBridges() ([]string, error) {
	links, err := netlinksafe.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var names []string
	for _, l := range links {
		if l.Attrs().Alias == bridgeAlias {
			names = append(names, l.Attrs().Name)
		}
	}
	return names, nil
}

// delBridgePod removes the pod's routes and neighbour entries; a pod
// interface that is already gone took them with it.
func delBridgePod(a Attachment, podNS ns.NetNS) error {
	return podNS.Do(func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(a.IfName)
		if err != nil {
			if isGone(err) {
				return nil
			}
			return fmt.Errorf("find pod interface %s: %w", a.IfName, err)
		}
		return removeOwnRoutes(link)
	})
}

// checkBridge verifies the sub-interface, the host routes and the pod's.
func checkBridge(p bridgePlan, a Attachment, podNS ns.NetNS) error {
	link, err := netlinksafe.LinkByName(p.Name)
	if err != nil {
		return fmt.Errorf("host sub-interface %s: %w", p.Name, err)
	}
	if !isBridgeOn(link, p.Master) {
		return fmt.Errorf("%s is not a bridge-mode macvlan on %s", p.Name, p.Master.Attrs().Name)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("host sub-interface %s is down", p.Name)
	}
	var errs []error
	if err := hostSide(link.Attrs().Index, p.PodIPs, p.HostIPs, nil, p.Metric).check(); err != nil {
		errs = append(errs, fmt.Errorf("host routes: %w", err))
	}
	errs = append(errs, podNS.Do(func(ns.NetNS) error {
		pl, err := netlinksafe.LinkByName(a.IfName)
		if err != nil {
			return fmt.Errorf("pod interface %s: %w", a.IfName, err)
		}
		return checkPodRoutes(pl, p.PodIPs, p.HostIPs, p.CIDRs)
	}))
	return errors.Join(errs...)
}
