package ipam

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultPrefix is where allocations live when the config names no prefix.
const DefaultPrefix = "/meta-cni/ipam"

// Pool is the etcd key space of one subnet in one scope. Allocations are
// keyed by subnet, not by network config, so two configs that share a subnet
// with different ranges can never hand out the same address.
type Pool struct {
	Key    string // <prefix>/subnets/<cidr> or <prefix>/networks/<network>/subnets/<cidr>
	Subnet netip.Prefix
}

// NewPool names the pool of subnet; network, when set, separates L2 domains
// that reuse a CIDR.
func NewPool(prefix, network string, subnet netip.Prefix) Pool {
	seg := subnet.Addr().String() + "-" + strconv.Itoa(subnet.Bits())
	if network == "" {
		return Pool{Key: prefix + "/subnets/" + seg, Subnet: subnet}
	}
	return Pool{Key: prefix + "/networks/" + network + "/subnets/" + seg, Subnet: subnet}
}

// IPPrefix is the key prefix of every address key in the pool.
func (p Pool) IPPrefix() string { return p.Key + "/ip/" }

// IPKey is the key of one address. The fixed-width form makes key order
// address order, so a range read over keys is a read over an address window.
func (p Pool) IPKey(a netip.Addr) string { return p.IPPrefix() + fixedWidth(a) }

// CursorKey holds the last address handed out, where the next search starts.
func (p Pool) CursorKey() string { return p.Key + "/cursor" }

// WindowRange is the [start, end) key range of the addresses first..last.
func (p Pool) WindowRange(first, last netip.Addr) (string, string) {
	return p.IPKey(first), p.IPKey(last) + "\x00"
}

// OwnerKey holds the addresses one container interface owns.
func OwnerKey(prefix, containerID, ifName string) string {
	return prefix + "/owners/" + containerID + "/" + ifName
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
func parseFixedWidth(s string) (netip.Addr, error) {
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

// AddrFromKey reads the address from an address key of this pool.
func (p Pool) AddrFromKey(key string) (netip.Addr, error) {
	tail, ok := strings.CutPrefix(key, p.IPPrefix())
	if !ok {
		return netip.Addr{}, fmt.Errorf("key %q is not in pool %s", key, p.Key)
	}
	return parseFixedWidth(tail)
}
