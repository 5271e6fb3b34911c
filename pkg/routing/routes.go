package routing

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
)

// RouteProtocol marks every route host-route adds ("proto 151" in `ip
// route`), so an operator can tell them apart and the last DEL can count
// what still uses the shared sub-interface.
const RouteProtocol netlink.RouteProtocol = 151

// linkSide is what host-route puts on one end of the path: routes through
// one link and the permanent neighbour entries for their next hops. A fixed
// neighbour entry avoids depending on ARP and NDP: IPv6 never answers a
// neighbour solicitation for an address held by another interface, and
// nodes with arp_ignore=1 (as kube-proxy's IPVS mode sets) do not for IPv4.
type linkSide struct {
	Routes []netlink.Route
	Neighs []netlink.Neigh
}

// hostSide routes each pod IP to the pod through link, with the host IP of
// the same family as source so the pod's reply comes back the same way.
// podMAC is nil when the pod answers neighbour discovery itself; metric
// tags the routes of one attachment on a shared link (0 for the default).
func hostSide(link int, podIPs, hostIPs []net.IP, podMAC net.HardwareAddr, metric int) linkSide {
	var s linkSide
	for _, p := range podIPs {
		s.Routes = append(s.Routes, netlink.Route{
			LinkIndex: link,
			Dst:       hostPrefix(p),
			Scope:     scopeLink(p),
			Src:       firstOfFamily(hostIPs, isV4(p)),
			Protocol:  RouteProtocol,
			Priority:  metric,
		})
		if podMAC != nil {
			s.Neighs = append(s.Neighs, permanentNeigh(link, p, podMAC))
		}
	}
	return s
}

// podSide routes the host IPs, then the Service and extra CIDRs via the
// first host IP of their family, through link inside the pod. Only families
// the pod has are routed; a CIDR of such a family without a host IP is a
// config error, found before anything is created.
func podSide(link int, podIPs, hostIPs []net.IP, cidrs []*net.IPNet, hostMAC net.HardwareAddr) (linkSide, error) {
	var s linkSide
	for _, h := range hostIPs {
		src := firstOfFamily(podIPs, isV4(h))
		if src == nil {
			continue
		}
		s.Routes = append(s.Routes, netlink.Route{
			LinkIndex: link,
			Dst:       hostPrefix(h),
			Scope:     scopeLink(h),
			Src:       src,
			Protocol:  RouteProtocol,
		})
		s.Neighs = append(s.Neighs, permanentNeigh(link, h, hostMAC))
	}
	for _, c := range cidrs {
		v4 := isV4(c.IP)
		src := firstOfFamily(podIPs, v4)
		if src == nil {
			continue
		}
		gw := firstOfFamily(hostIPs, v4)
		if gw == nil {
			return linkSide{}, configErr("hostIPs", "no %s host IP to route %s through", familyName(v4), c)
		}
		s.Routes = append(s.Routes, netlink.Route{
			LinkIndex: link,
			Dst:       c,
			Gw:        gw,
			Flags:     int(netlink.FLAG_ONLINK),
			Src:       src,
			Protocol:  RouteProtocol,
		})
	}
	return s, nil
}

func (s linkSide) apply() error {
	for i := range s.Neighs {
		if err := netlink.NeighSet(&s.Neighs[i]); err != nil {
			return fmt.Errorf("set neighbour %s: %w", s.Neighs[i].IP, err)
		}
	}
	for i := range s.Routes {
		if err := netlink.RouteReplace(&s.Routes[i]); err != nil {
			return fmt.Errorf("add route %s: %w", s.Routes[i].Dst, err)
		}
	}
	return nil
}

// check reports every route that is missing or points elsewhere.
func (s linkSide) check() error {
	var errs []error
	for _, want := range s.Routes {
		got, err := netlinksafe.RouteListFiltered(family(want.Dst.IP), &netlink.Route{Dst: want.Dst, LinkIndex: want.LinkIndex},
			netlink.RT_FILTER_DST|netlink.RT_FILTER_OIF)
		if err != nil {
			errs = append(errs, fmt.Errorf("list routes to %s: %w", want.Dst, err))
			continue
		}
		found := false
		for _, r := range got {
			found = found || r.Gw.Equal(want.Gw) // nil equals nil
		}
		if !found {
			errs = append(errs, fmt.Errorf("route %s via %v dev index %d is missing", want.Dst, want.Gw, want.LinkIndex))
		}
	}
	return errors.Join(errs...)
}

// checkPodRoutes verifies, inside the pod, the routes podSide wants
// through link.
func checkPodRoutes(link netlink.Link, podIPs, hostIPs []net.IP, cidrs []*net.IPNet) error {
	side, err := podSide(link.Attrs().Index, podIPs, hostIPs, cidrs, nil)
	if err != nil {
		return err
	}
	if err := side.check(); err != nil {
		return fmt.Errorf("pod routes: %w", err)
	}
	return nil
}

// removeOwnRoutes deletes every route host-route added through link, with
// the permanent neighbour entries of their host next hops. It needs no
// record of what was added: the protocol marks it.
func removeOwnRoutes(link netlink.Link) error {
	routes, err := ownRoutes(link)
	if err != nil {
		return err
	}
	var errs []error
	for i := range routes {
		r := routes[i]
		if err := netlink.RouteDel(&r); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", r.Dst, err))
		}
		if ones, bits := r.Dst.Mask.Size(); ones == bits {
			n := permanentNeigh(link.Attrs().Index, r.Dst.IP, nil)
			if err := netlink.NeighDel(&n); err != nil && !isGone(err) {
				errs = append(errs, fmt.Errorf("delete neighbour %s: %w", r.Dst.IP, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ownRoutes lists the routes host-route added through link, both families.
func ownRoutes(link netlink.Link) ([]netlink.Route, error) {
	routes, err := netlinksafe.RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{LinkIndex: link.Attrs().Index, Protocol: RouteProtocol}, netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("list routes through %s: %w", link.Attrs().Name, err)
	}
	return routes, nil
}

func permanentNeigh(link int, ip net.IP, mac net.HardwareAddr) netlink.Neigh {
	return netlink.Neigh{LinkIndex: link, Family: family(ip), State: netlink.NUD_PERMANENT, IP: ip, HardwareAddr: mac}
}

func hostPrefix(ip net.IP) *net.IPNet {
	if isV4(ip) {
		return &net.IPNet{IP: ip.To4(), Mask: net.CIDRMask(32, 32)}
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}
}

func scopeLink(ip net.IP) netlink.Scope {
	if isV4(ip) {
		return netlink.SCOPE_LINK
	}
	return netlink.SCOPE_UNIVERSE
}

func family(ip net.IP) int {
	if isV4(ip) {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func familyName(v4 bool) string {
	if v4 {
		return "IPv4"
	}
	return "IPv6"
}

// isGone is true for the errors netlink gives for an object, link or
// namespace that no longer exists.
func isGone(err error) bool {
	var notFound netlink.LinkNotFoundError
	return errors.As(err, &notFound) || errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.ENODEV)
}
