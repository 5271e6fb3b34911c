package ipam

import (
	"fmt"
	"net/netip"
)

// Range is one block of a subnet that addresses are handed out from, with
// host-local's meaning: Start and End are inclusive, and the gateway, the
// network address and (for IPv4) the broadcast address are never handed out.
type Range struct {
	Subnet  netip.Prefix
	Start   netip.Addr
	End     netip.Addr
	Gateway netip.Addr
}

// NewRange checks a range the way host-local does and fills in its
// defaults: Start is the first host, End the last host (not the IPv4
// broadcast) and Gateway the first host. The strings may be empty except
// subnet.
func NewRange(subnet, start, end, gateway string) (Range, error) {
	var r Range
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		return r, fieldErr("subnet", "%q is not a CIDR", subnet)
	}
	if p.Addr().Is4In6() {
		return r, fieldErr("subnet", "%q is an IPv4-mapped IPv6 prefix; write it as IPv4", subnet)
	}
	if p.Addr().Zone() != "" {
		return r, fieldErr("subnet", "%q has a zone", subnet)
	}
	if p.Masked() != p {
		return r, fieldErr("subnet", "%q has host bits set; the network address is %s", subnet, p.Masked().Addr())
	}
	if p.Bits() > p.Addr().BitLen()-2 {
		return r, fieldErr("subnet", "%s is too small to allocate from", p)
	}
	r.Subnet = p
	network := p.Addr()
	if r.Gateway, err = parseInSubnet("gateway", gateway, p, network.Next()); err != nil {
		return r, err
	}
	if r.Start, err = parseInSubnet("rangeStart", start, p, network.Next()); err != nil {
		return r, err
	}
	lastHost := lastAddr(p)
	if p.Addr().Is4() {
		lastHost = lastHost.Prev()
	}
	if r.End, err = parseInSubnet("rangeEnd", end, p, lastHost); err != nil {
		return r, err
	}
	if r.Start.Compare(r.End) > 0 {
		return r, fieldErr("rangeStart", "%s is after rangeEnd %s in %s", r.Start, r.End, p)
	}
	return r, nil
}

func parseInSubnet(field, s string, subnet netip.Prefix, def netip.Addr) (netip.Addr, error) {
	if s == "" {
		return def, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fieldErr(field, "%q is not an IP address", s)
	}
	a = a.Unmap()
	if a.Zone() != "" {
		return a, fieldErr(field, "%q has a zone", s)
	}
	if !subnet.Contains(a) {
		return a, fieldErr(field, "%s is not in subnet %s", a, subnet)
	}
	return a, nil
}

// Contains reports whether a lies between Start and End.
func (r Range) Contains(a netip.Addr) bool {
	return a.Is4() == r.Start.Is4() && r.Start.Compare(a) <= 0 && a.Compare(r.End) <= 0
}

// Reserved reports whether a is never handed out in this range's subnet,
// whatever the range: the network, the IPv4 broadcast and the gateway.
func (r Range) Reserved(a netip.Addr) bool {
	if a == r.Subnet.Addr() || a == r.Gateway {
		return true
	}
	return a.Is4() && a == lastAddr(r.Subnet)
}

// Overlaps reports whether two ranges share an address.
func (r Range) Overlaps(o Range) bool {
	if r.Start.Is4() != o.Start.Is4() {
		return false
	}
	return r.Start.Compare(o.End) <= 0 && o.Start.Compare(r.End) <= 0
}

// Size is the number of addresses from Start to End.
func (r Range) Size() uint64 { return addrCount(r.Start, r.End) }

func (r Range) String() string {
	return fmt.Sprintf("%s-%s in %s", r.Start, r.End, r.Subnet)
}
