package ipam

import (
	"net/netip"
	"strings"
)

// parseCNIArgs splits CNI_ARGS ("K=V;K=V").
func parseCNIArgs(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ";") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fieldErr("CNI_ARGS", "%q is not KEY=VALUE", pair)
		}
		out[k] = v
	}
	return out, nil
}

type requestedAddr struct{ field, value string }

// assignStatic gives each requested address to the range set whose subnet
// holds it.
func assignStatic(req []requestedAddr, sets []*RangeSet) (map[int]netip.Addr, error) {
	out := map[int]netip.Addr{}
	for _, r := range req {
		s := strings.TrimSpace(r.value)
		if p, err := netip.ParsePrefix(s); err == nil {
			s = p.Addr().String()
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fieldErr(r.field, "%q is not an IP address", r.value)
		}
		a = a.Unmap()
		placed := false
		for i, set := range sets {
			idx, ok := set.RangeFor(a)
			if idx < 0 {
				continue
			}
			if !ok {
				return nil, fieldErr(r.field, "%s is the network, broadcast or gateway address of %s", a, set.Ranges[idx].Subnet)
			}
			if prev, dup := out[i]; dup && prev != a {
				return nil, fieldErr(r.field, "%s and %s both fall in range set %s; one address per range set", prev, a, set)
			}
			out[i] = a
			placed = true
			break
		}
		if !placed {
			return nil, fieldErr(r.field, "%s is not in any configured subnet", a)
		}
	}
	return out, nil
}
