package delegate

import (
	"fmt"
	"net"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// MoveDefaultRoute makes d's interface carry the pod's default route: it
// removes the default routes of each gateway's family from the main table
// and adds one via the gateway on d's interface.
func MoveDefaultRoute(netnsPath string, d *Delegate) error {
	if len(d.Gateways) == 0 {
		return nil
	}
	return ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		link, err := netlink.LinkByName(d.IfName)
		if err != nil {
			return fmt.Errorf("find interface %s for default-route: %w", d.IfName, err)
		}
		for _, gw := range d.Gateways {
			family := netlink.FAMILY_V6
			if gw.To4() != nil {
				family = netlink.FAMILY_V4
			}
			routes, err := netlink.RouteList(nil, family)
			if err != nil {
				return fmt.Errorf("list routes: %w", err)
			}
			for i := range routes {
				if isDefault(routes[i].Dst) {
					if err := netlink.RouteDel(&routes[i]); err != nil {
						return fmt.Errorf("remove default route %s: %w", routes[i], err)
					}
				}
			}
			route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw, Scope: netlink.SCOPE_UNIVERSE}
			if err := netlink.RouteAdd(route); err != nil {
				return fmt.Errorf("add default route via %s dev %s: %w", gw, d.IfName, err)
			}
		}
		return nil
	})
}

func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0
}
