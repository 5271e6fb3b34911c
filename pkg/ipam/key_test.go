package ipam

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// Key order must be address order, or a window read would miss addresses.
func TestIPKeyOrderIsAddressOrder(t *testing.T) {
	for _, subnet := range []string{"10.0.0.0/8", "2001:db8::/32"} {
		p := NewPool("/x", "", netip.MustParsePrefix(subnet))
		base := p.Subnet.Addr()
		var addrs []netip.Addr
		for i := 0; i < 2000; i++ {
			a, _ := addrAdd(base, rand.Uint64N(1<<24))
			addrs = append(addrs, a)
		}
		keys := make([]string, len(addrs))
		for i, a := range addrs {
			keys[i] = p.IPKey(a)
			back, err := p.AddrFromKey(keys[i])
			if err != nil || back != a {
				t.Fatalf("AddrFromKey(%q) = %s, %v; want %s", keys[i], back, err, a)
			}
		}
		slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
		slices.Sort(keys)
		for i := range addrs {
			if keys[i] != p.IPKey(addrs[i]) {
				t.Fatalf("%s: key order differs from address order at %d: %s vs %s", subnet, i, keys[i], p.IPKey(addrs[i]))
			}
		}
	}
}

func TestWindowRangeCoversExactlyTheWindow(t *testing.T) {
	p := NewPool("/x", "", netip.MustParsePrefix("10.0.0.0/16"))
	start, end := p.WindowRange(netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("10.0.0.20"))
	for a, in := range map[string]bool{"10.0.0.9": false, "10.0.0.10": true, "10.0.0.20": true, "10.0.0.21": false, "10.0.0.200": false} {
		k := p.IPKey(netip.MustParseAddr(a))
		if got := k >= start && k < end; got != in {
			t.Errorf("%s in [%q, %q) = %v, want %v", a, start, end, got, in)
		}
	}
}

func TestPoolKeysAreScopedBySubnetAndNetwork(t *testing.T) {
	s := netip.MustParsePrefix("10.10.20.0/24")
	if got := NewPool("/meta-cni/ipam", "", s).IPKey(netip.MustParseAddr("10.10.20.5")); got != "/meta-cni/ipam/subnets/10.10.20.0-24/ip/010.010.020.005" {
		t.Errorf("IPKey = %q", got)
	}
	a, b := NewPool("/p", "", s), NewPool("/p", "rack-a", s)
	if a.Key == b.Key || strings.HasPrefix(b.IPPrefix(), a.IPPrefix()) || strings.HasPrefix(a.IPPrefix(), b.IPPrefix()) {
		t.Errorf("network scope does not separate pools: %q vs %q", a.Key, b.Key)
	}
	if OwnerKey("/p", "abc", "net1") != "/p/owners/abc/net1" {
		t.Errorf("OwnerKey = %q", OwnerKey("/p", "abc", "net1"))
	}
	if _, err := a.AddrFromKey(b.IPKey(netip.MustParseAddr("10.10.20.5"))); err == nil {
		t.Error("a key of another pool parsed as ours")
	}
}
