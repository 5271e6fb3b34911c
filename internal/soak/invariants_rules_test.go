package soak

import (
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// leakedRule: meta-cni, etcd-ipam and host-route install no policy-routing
// rule (host-route routes by destination only: nothing in pkg/routing or
// cmd/* calls RuleAdd), and neither do macvlan, bridge, Multus or
// Whereabouts, so every rule in a node's or a pod's netns beyond the
// kernel's own belongs to no attachment.
const leakedRule violationKind = "leaked ip rule"

// defaultRule is one of the rules the kernel puts in every new netns:
// "from all lookup local" at 0, "lookup main" at 32766, and for IPv4
// "lookup default" at 32767.
func defaultRule(family int, r netlink.Rule) bool {
	plain := r.Src == nil && r.Dst == nil && r.IifName == "" && r.OifName == "" && r.Mark == 0 && !r.Invert &&
		r.Goto <= 0 && r.Tos == 0 && r.IPProto == 0 && r.Dport == nil && r.Sport == nil && r.UIDRange == nil
	if !plain {
		return false
	}
	switch {
	case r.Priority == 0 && r.Table == unix.RT_TABLE_LOCAL:
	case r.Priority == 32766 && r.Table == unix.RT_TABLE_MAIN:
	case r.Priority == 32767 && r.Table == unix.RT_TABLE_DEFAULT && family == netlink.FAMILY_V4:
	default:
		return false
	}
	return true
}

// extraRules lists the IPv4 and IPv6 rules of a netns that are not the
// kernel's defaults, as `ip rule` prints them.
func extraRules(netns ns.NetNS) ([]string, error) {
	var out []string
	err := netns.Do(func(ns.NetNS) error {
		for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			rules, err := netlink.RuleList(fam)
			if err != nil {
				return fmt.Errorf("list ip rules: %w", err)
			}
			for _, r := range rules {
				if !defaultRule(fam, r) {
					out = append(out, ruleString(fam, r))
				}
			}
		}
		return nil
	})
	return out, err
}

func ruleString(family int, r netlink.Rule) string {
	v := "-4"
	if family == netlink.FAMILY_V6 {
		v = "-6"
	}
	s := fmt.Sprintf("ip %s rule %d:", v, r.Priority)
	if r.Src != nil {
		s += " from " + r.Src.String()
	}
	if r.Dst != nil {
		s += " to " + r.Dst.String()
	}
	if r.IifName != "" {
		s += " iif " + r.IifName
	}
	if r.OifName != "" {
		s += " oif " + r.OifName
	}
	if r.Mark != 0 {
		s += fmt.Sprintf(" fwmark %#x", r.Mark)
	}
	return s + fmt.Sprintf(" lookup %d", r.Table)
}
