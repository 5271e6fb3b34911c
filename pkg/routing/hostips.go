package routing

import (
	"fmt"
	"net"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hostIPs returns the host addresses the pod is given routes to, in the
// caller's (host) namespace: the configured ones, else the global addresses
// of hostInterface, else the source the host would use towards each pod IP.
// Each family of a routed CIDR the pod has an address of needs one, and
// the error names the field that gave none.
func hostIPs(c *Config, podIPs []net.IP) ([]net.IP, error) {
	out, err := findHostIPs(c, podIPs)
	if err != nil {
		return nil, err
	}
	for _, cidr := range c.routedCIDRs() {
		v4 := isV4(cidr.IP)
		if firstOfFamily(podIPs, v4) == nil || firstOfFamily(out, v4) != nil {
			continue
		}
		switch {
		case len(c.HostIPs) > 0:
			return nil, configErr("hostIPs", "none is an %s address, to route %s through", familyName(v4), cidr)
		case c.HostInterface != "":
			return nil, configErr("hostInterface", "%s has no global %s address to route %s through; give it one, or set hostIPs", c.HostInterface, familyName(v4), cidr)
		default:
			return nil, configErr("hostIPs", "the host has no %s source address towards the pod to route %s through; set hostIPs or hostInterface", familyName(v4), cidr)
		}
	}
	return out, nil
}

func findHostIPs(c *Config, podIPs []net.IP) ([]net.IP, error) {
	if len(c.HostIPs) > 0 {
		for i, ip := range c.HostIPs {
			if !isLocal(ip) {
				return nil, configErr(fmt.Sprintf("hostIPs[%d]", i), "%s is not an address of this host", ip)
			}
		}
		return c.HostIPs, nil
	}
	var out []net.IP
	if c.HostInterface != "" {
		link, err := hostLink("hostInterface", c.HostInterface)
		if err != nil {
			return nil, err
		}
		addrs, err := netlinksafe.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", c.HostInterface, err)
		}
		for _, a := range addrs {
			if a.Scope == int(netlink.SCOPE_UNIVERSE) && !a.IP.IsLinkLocalUnicast() {
				out = append(out, normalise(a.IP))
			}
		}
		if len(out) == 0 {
			return nil, configErr("hostInterface", "%s has no global address; set hostIPs", c.HostInterface)
		}
		return out, nil
	}
	for _, p := range podIPs {
		routes, err := netlink.RouteGet(p)
		if err != nil || len(routes) == 0 || routes[0].Src == nil {
			continue
		}
		if src := normalise(routes[0].Src); !containsIP(out, src) {
			out = append(out, src)
		}
	}
	if len(out) == 0 {
		return nil, configErr("hostIPs", "the host has no route with a source address towards the pod IPs %v; set hostIPs or hostInterface", podIPs)
	}
	return out, nil
}

// hostLink finds a link the config names; its absence is the user's error.
func hostLink(field, name string) (netlink.Link, error) {
	link, err := netlinksafe.LinkByName(name)
	if err != nil {
		if isGone(err) {
			return nil, configErr(field, "link %q does not exist on the host", name)
		}
		return nil, fmt.Errorf("find link %s: %w", name, err)
	}
	return link, nil
}

// isLocal asks the kernel whether ip is one of this namespace's addresses.
func isLocal(ip net.IP) bool {
	routes, err := netlink.RouteGet(ip)
	return err == nil && len(routes) > 0 && routes[0].Type == unix.RTN_LOCAL
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, x := range ips {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}
