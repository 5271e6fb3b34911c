package ipam

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultPrefix is where allocations live when the config names no prefix.
const DefaultPrefix = "/meta-cni/ipam"

// Scope is the key space of one L2 domain. An address has exactly one key
// in it, whatever mask a config gives the address, so configs whose subnets
// overlap (a /29 and a /28, a /24 grown to a /23) see each other's
// allocations. An explicit network separates L2 domains that reuse
// addresses.
type Scope struct {
	Key string // <prefix>, or <prefix>/networks/<network>
}

// NewScope is the scope of network under prefix; "" is the default scope.
func NewScope(prefix, network string) Scope {
	if network == "" {
		return Scope{Key: prefix}
	}
	return Scope{Key: prefix + "/networks/" + network}
}

// familyPrefix keeps each family's keys apart, so a window read of IPv4
// keys can never range over IPv6 ones.
func (s Scope) familyPrefix(is4 bool) string {
	if is4 {
		return s.Key + "/ipv4/"
	}
	return s.Key + "/ipv6/"
}

// IPKey is the key of one address. The fixed-width form makes key order
// address order, so a range read over keys is a read over an address window.
func (s Scope) IPKey(a netip.Addr) string { return s.familyPrefix(a.Is4()) + fixedWidth(a) }

// WindowRange is the [start, end) key range of the addresses first..last.
func (s Scope) WindowRange(first, last netip.Addr) (string, string) {
	return s.IPKey(first), s.IPKey(last) + "\x00"
}

// CursorKey holds where the next search of one range set starts. It is per
// range set, so one transaction that allocates from several sets, even in
// one subnet, writes each cursor once.
func (s Scope) CursorKey(set *RangeSet) string {
	parts := make([]string, len(set.Ranges))
	for i, r := range set.Ranges {
		parts[i] = r.Start.String() + "-" + r.End.String()
	}
	return s.Key + "/cursors/" + strings.Join(parts, ",")
}

// AddrFromKey reads the address from an address key of this scope.
func (s Scope) AddrFromKey(key string) (netip.Addr, error) {
	for _, is4 := range []bool{true, false} {
		tail, ok := strings.CutPrefix(key, s.familyPrefix(is4))
		if !ok {
			continue
		}
		a, err := parseFixedWidth(tail)
		if err == nil && a.Is4() != is4 {
			// No address with the error: List's callers read a key's
			// address without checking it.
			return netip.Addr{}, fmt.Errorf("key %q holds %s under the other family", key, a)
		}
		return a, err
	}
	return netip.Addr{}, fmt.Errorf("key %q is not an address key of scope %s", key, s.Key)
}

// Pool is one subnet's addresses in a scope: a run of the scope's address
// keys, not a key space of its own.
type Pool struct {
	Scope
	Subnet netip.Prefix
}

// NewPool is subnet in the scope of network under prefix.
func NewPool(prefix, network string, subnet netip.Prefix) Pool {
	return Pool{Scope: NewScope(prefix, network), Subnet: subnet.Masked()}
}

// KeyRange is the [start, end) key range of every address of the subnet.
func (p Pool) KeyRange() (string, string) {
	return p.WindowRange(p.Subnet.Addr(), lastAddr(p.Subnet))
}

// OwnerKey holds the addresses one container interface owns.
func OwnerKey(prefix, containerID, ifName string) string {
	return prefix + "/owners/" + containerID + "/" + ifName
}

// coveringSubnets drops every subnet that another in the list contains, so
// that reading each one reads no address twice.
func coveringSubnets(in []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for i, p := range in {
		covered := false
		for j, q := range in {
			if i != j && q.Bits() <= p.Bits() && q.Contains(p.Addr()) && (q.Bits() < p.Bits() || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

// fixedWidth writes IPv4 as 010.000.000.001 and IPv6 fully expanded.
func fixedWidth(a netip.Addr) string {
	if a.Is4() {
		b := a.As4()
		return fmt.Sprintf("%03d.%03d.%03d.%03d", b[0], b[1], b[2], b[3])
	}
	return a.StringExpanded()
}

// parseFixedWidth reads an address back from the tail of an address key.
// Only the form fixedWidth writes is an address key: another spelling of
// the address ("10.0.0.1", "::1") sorts outside key order and is not the
// key an allocation's transaction guards.
func parseFixedWidth(s string) (netip.Addr, error) {
	a, err := parseOctets(s)
	if err == nil && a.Zone() != "" {
		err = fmt.Errorf("parse address key %q: an address with a zone is never allocated", s)
	}
	if err == nil && fixedWidth(a) != s {
		err = fmt.Errorf("parse address key %q: not the fixed-width form %q of %s", s, fixedWidth(a), a)
	}
	if err != nil {
		return netip.Addr{}, err
	}
	return a, nil
}

func parseOctets(s string) (netip.Addr, error) {
	if strings.Contains(s, ":") {
		return netip.ParseAddr(s)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return netip.Addr{}, fmt.Errorf("parse address key %q: want 4 octets", s)
	}
	var b [4]byte
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("parse address key %q: %w", s, err)
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), nil
}
