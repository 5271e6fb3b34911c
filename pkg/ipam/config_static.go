package ipam

import (
	"net/netip"
	"strings"
)

// requestedAddr is a static address and the field it came from, as a user
// writes it: "runtimeConfig.ips[0]", "args.cni.ips[1]" or "CNI_ARGS IP".
type requestedAddr struct{ field, value string }

// assignStatic gives each requested address to the range set whose range
// holds it. As in host-local, an address outside every range is refused,
// and so is one in an exclusion, unless anywhere
// (ipam.staticAnywhereInSubnet) lets it go to a set of its subnet that no
// other requested address took. The network, broadcast and gateway
// addresses are always refused.
func assignStatic(req []requestedAddr, sets []*RangeSet, exclude []netip.Prefix, anywhere bool) (map[int]netip.Addr, error) {
	out := map[int]netip.Addr{}
	var loose []requestedAddr // in a subnet but in no range: placed last
	seen := map[netip.Addr]bool{}
	for _, r := range req {
		a, err := parseRequested(r)
		if err != nil {
			return nil, err
		}
		if seen[a] {
			continue // the same address from two sources
		}
		seen[a] = true
		set, inRange := setFor(a, sets)
		if set < 0 {
			return nil, fieldErr(r.field, "%s is not in any configured subnet", a)
		}
		if idx, ok := sets[set].RangeFor(a); !ok {
			return nil, fieldErr(r.field, "%s is the network, broadcast or gateway address of %s", a, sets[set].Ranges[idx].Subnet)
		}
		if !inRange {
			if !anywhere {
				return nil, fieldErr(r.field, "%s is outside every range (%s); set ipam.staticAnywhereInSubnet to true to allow a static address anywhere in its subnet", a, rangesOf(a, sets))
			}
			loose = append(loose, r)
			continue
		}
		if i, p, ok := excludedBy(a, exclude); ok && !anywhere {
			return nil, fieldErr(r.field, "%s is inside ipam.exclude[%d] (%s); set ipam.staticAnywhereInSubnet to true to allow a static address there", a, i, p)
		}
		if prev, dup := out[set]; dup {
			return nil, fieldErr(r.field, "%s and %s both fall in range set %s; one address per range set", prev, a, sets[set])
		}
		out[set] = a
	}
	for _, r := range loose {
		a, _ := parseRequested(r)
		placed := false
		for i, set := range sets {
			if idx, ok := set.RangeFor(a); idx >= 0 && ok && !hasKey(out, i) {
				out[i], placed = a, true
				break
			}
		}
		if !placed {
			first, _ := setFor(a, sets)
			return nil, fieldErr(r.field, "%s and %s both fall in range set %s; one address per range set", out[first], a, sets[first])
		}
	}
	return out, nil
}

func parseRequested(r requestedAddr) (netip.Addr, error) {
	s := strings.TrimSpace(r.value)
	if p, err := netip.ParsePrefix(s); err == nil {
		s = p.Addr().String()
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fieldErr(r.field, "%q is not an IP address", r.value)
	}
	return a.Unmap(), nil
}

// setFor is the set whose range holds a (inRange), or else the first set
// whose subnet holds it, or -1.
func setFor(a netip.Addr, sets []*RangeSet) (set int, inRange bool) {
	set = -1
	for i, s := range sets {
		for _, r := range s.Ranges {
			if r.Contains(a) {
				return i, true
			}
			if set < 0 && r.Subnet.Contains(a) {
				set = i
			}
		}
	}
	return set, false
}

// rangesOf lists the ranges of every subnet that holds a.
func rangesOf(a netip.Addr, sets []*RangeSet) string {
	var out []string
	for _, s := range sets {
		for _, r := range s.Ranges {
			if r.Subnet.Contains(a) {
				out = append(out, r.String())
			}
		}
	}
	return strings.Join(out, "; ")
}

func excludedBy(a netip.Addr, exclude []netip.Prefix) (int, netip.Prefix, bool) {
	for i, p := range exclude {
		if p.Contains(a) {
			return i, p, true
		}
	}
	return 0, netip.Prefix{}, false
}

func hasKey(m map[int]netip.Addr, k int) bool {
	_, ok := m[k]
	return ok
}
