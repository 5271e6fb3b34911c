package routing

import (
	"errors"
	"fmt"
	"net"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// vethPlan is everything veth mode needs, computed before the first change.
type vethPlan struct {
	HostName, PodName string
	Alias             string // marks the host end as this network's, for GC
	HostMAC, PodMAC   net.HardwareAddr
	PodIPs, HostIPs   []net.IP
	CIDRs             []*net.IPNet
	MTU               int
}

func newVethPlan(c *Config, a Attachment, podIPs, hostIPs []net.IP) vethPlan {
	hostMAC, podMAC := vethMACs(a.ContainerID, a.IfName)
	return vethPlan{
		HostName: HostVethName(a.ContainerID, a.IfName),
		Alias:    vethAlias(c.Raw.Name),
		PodName:  c.ContainerInterface,
		HostMAC:  hostMAC,
		PodMAC:   podMAC,
		PodIPs:   podIPs,
		HostIPs:  hostIPs,
		CIDRs:    c.routedCIDRs(),
		MTU:      c.MTU,
	}
}

// addVeth creates the pair and both sides' routes. It runs in the host
// namespace and undoes itself on failure.
func addVeth(p vethPlan, a Attachment, podNS ns.NetNS) (ifaces []*current.Interface, err error) {
	// Reject a CIDR without a host IP of its family before the first change.
	if _, err := podSide(0, p.PodIPs, p.HostIPs, p.CIDRs, nil); err != nil {
		return nil, err
	}
	// A repeated ADD finds its own pair from before; its pod end is no
	// conflict, since it goes with the host end below.
	stale := 0
	if old, err := netlinksafe.LinkByName(p.HostName); err == nil {
		stale = old.Attrs().Index
	}
	var podMTU int
	if err := podNS.Do(func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(a.IfName)
		if err != nil {
			return fmt.Errorf("find pod interface %s: %w (host-route must be chained after the plugin that creates it)", a.IfName, err)
		}
		podMTU = link.Attrs().MTU
		taken, err := netlinksafe.LinkByName(p.PodName)
		if err != nil {
			return nil
		}
		if _, veth := taken.(*netlink.Veth); !veth || stale == 0 || taken.Attrs().ParentIndex != stale {
			return configErr("containerInterface", "%q already exists in the container", p.PodName)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// A repeated ADD starts over: the old pair (and with it every route and
	// neighbour through it) goes, and the same names and MACs come back.
	if err := deleteLinkByName(p.HostName); err != nil {
		return nil, err
	}
	if p.MTU == 0 {
		p.MTU = podMTU
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: p.HostName, MTU: p.MTU, HardwareAddr: p.HostMAC},
		PeerName:         p.PodName,
		PeerHardwareAddr: p.PodMAC,
		PeerNamespace:    netlink.NsFd(int(podNS.Fd())),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("create veth %s/%s: %w", p.HostName, p.PodName, err)
	}
	defer func() {
		if err != nil {
			_ = deleteLinkByName(p.HostName)
		}
	}()
	host, err := netlinksafe.LinkByName(p.HostName)
	if err != nil {
		return nil, fmt.Errorf("find new veth %s: %w", p.HostName, err)
	}
	// The kernel ignores an alias given at creation.
	if err := netlink.LinkSetAlias(host, p.Alias); err != nil {
		return nil, fmt.Errorf("set alias of %s: %w", p.HostName, err)
	}
	if err := forwardLink(p.HostName, hasV6(p.PodIPs)); err != nil {
		return nil, err
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return nil, fmt.Errorf("set %s up: %w", p.HostName, err)
	}
	if err := hostSide(host.Attrs().Index, p.PodIPs, p.HostIPs, p.PodMAC, 0).apply(); err != nil {
		return nil, fmt.Errorf("host side of %s: %w", p.HostName, err)
	}
	if err := podNS.Do(func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(p.PodName)
		if err != nil {
			return fmt.Errorf("find %s in the pod: %w", p.PodName, err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("set %s up in the pod: %w", p.PodName, err)
		}
		side, err := podSide(link.Attrs().Index, p.PodIPs, p.HostIPs, p.CIDRs, p.HostMAC)
		if err != nil {
			return err
		}
		return side.apply()
	}); err != nil {
		return nil, fmt.Errorf("pod side of %s: %w", p.PodName, err)
	}
	return []*current.Interface{
		{Name: p.HostName, Mac: p.HostMAC.String()},
		{Name: p.PodName, Mac: p.PodMAC.String(), Sandbox: a.NetNS},
	}, nil
}

// delVeth removes the pair; every route and neighbour entry on either end
// and the per-link sysctls go with it. The pod's netns is not needed.
func delVeth(p vethPlan) error {
	return deleteLinkByName(p.HostName)
}

// checkVeth verifies the pair and the routes on both ends.
func checkVeth(p vethPlan, podNS ns.NetNS) error {
	host, err := netlinksafe.LinkByName(p.HostName)
	if err != nil {
		return fmt.Errorf("host veth %s: %w", p.HostName, err)
	}
	if _, ok := host.(*netlink.Veth); !ok {
		return fmt.Errorf("host link %s is a %s, not a veth", p.HostName, host.Type())
	}
	if host.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("host veth %s is down", p.HostName)
	}
	var errs []error
	if err := hostSide(host.Attrs().Index, p.PodIPs, p.HostIPs, nil, 0).check(); err != nil {
		errs = append(errs, fmt.Errorf("host routes: %w", err))
	}
	err = podNS.Do(func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(p.PodName)
		if err != nil {
			return fmt.Errorf("pod veth %s: %w", p.PodName, err)
		}
		if _, ok := link.(*netlink.Veth); !ok {
			return fmt.Errorf("pod link %s is a %s, not a veth", p.PodName, link.Type())
		}
		// IFLA_LINK of a veth end is its peer's index.
		if link.Attrs().ParentIndex != host.Attrs().Index {
			return fmt.Errorf("pod veth %s is not the peer of host veth %s", p.PodName, p.HostName)
		}
		if link.Attrs().Flags&net.FlagUp == 0 {
			return fmt.Errorf("pod veth %s is down", p.PodName)
		}
		return checkPodRoutes(link, p.PodIPs, p.HostIPs, p.CIDRs)
	})
	return errors.Join(append(errs, err)...)
}

func deleteLinkByName(name string) error {
	link, err := netlinksafe.LinkByName(name)
	if err != nil {
		if isGone(err) {
			return nil
		}
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil && !isGone(err) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// vethAlias is the host end's alias: which network's host-route made it.
func vethAlias(network string) string { return "meta-cni host-route " + plain(network) }

func hasV6(ips []net.IP) bool {
	for _, ip := range ips {
		if !isV4(ip) {
			return true
		}
	}
	return false
}
