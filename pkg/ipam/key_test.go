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
	p := NewScope("/x", "")
	start, end := p.WindowRange(netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("10.0.0.20"))
	for a, in := range map[string]bool{"10.0.0.9": false, "10.0.0.10": true, "10.0.0.20": true, "10.0.0.21": false, "10.0.0.200": false} {
		k := p.IPKey(netip.MustParseAddr(a))
		if got := k >= start && k < end; got != in {
			t.Errorf("%s in [%q, %q) = %v, want %v", a, start, end, got, in)
		}
	}
}

// One key per address per scope, whatever the mask: a /29 and a /28 over the
// same addresses name the same key, another network scope names another.
func TestAddressKeysAreScopedByNetworkNotByMask(t *testing.T) {
	a := netip.MustParseAddr("10.10.20.5")
	narrow := NewPool("/meta-cni/ipam", "", netip.MustParsePrefix("10.10.20.0/29"))
	wide := NewPool("/meta-cni/ipam", "", netip.MustParsePrefix("10.10.20.0/23"))
	if got := narrow.IPKey(a); got != "/meta-cni/ipam/ipv4/010.010.020.005" || wide.IPKey(a) != got {
		t.Errorf("IPKey = %q (/29) and %q (/23), want both /meta-cni/ipam/ipv4/010.010.020.005", got, wide.IPKey(a))
	}
	if got := NewScope("/p", "").IPKey(netip.MustParseAddr("fd00::5")); got != "/p/ipv6/fd00:0000:0000:0000:0000:0000:0000:0005" {
		t.Errorf("IPv6 IPKey = %q", got)
	}
	def, rack := NewScope("/p", ""), NewScope("/p", "rack-a")
	if def.IPKey(a) == rack.IPKey(a) || strings.HasPrefix(rack.IPKey(a), def.Key+"/ipv4/") {
		t.Errorf("network scope does not separate keys: %q vs %q", def.IPKey(a), rack.IPKey(a))
	}
	if _, err := def.AddrFromKey(rack.IPKey(a)); err == nil {
		t.Error("a key of another scope parsed as ours")
	}
	if OwnerKey("/p", "abc", "net1") != "/p/owners/abc/net1" {
		t.Errorf("OwnerKey = %q", OwnerKey("/p", "abc", "net1"))
	}
	// A pool's key range is exactly its subnet's addresses.
	start, end := narrow.KeyRange()
	for s, in := range map[string]bool{"10.10.20.0": true, "10.10.20.7": true, "10.10.20.8": false, "10.10.19.255": false} {
		k := wide.IPKey(netip.MustParseAddr(s))
		if got := k >= start && k < end; got != in {
			t.Errorf("%s in the /29's key range = %v, want %v", s, got, in)
		}
	}
}

// An IPv4 window read never reaches an IPv6 key, even one whose expanded
// form starts with the same digits.
func TestIPv4WindowNeverCoversAnIPv6Key(t *testing.T) {
	s := NewScope("/p", "")
	start, end := s.WindowRange(netip.MustParseAddr("10.255.255.200"), netip.MustParseAddr("11.0.0.10"))
	k := s.IPKey(netip.MustParseAddr("100::1"))
	if k >= start && k < end {
		t.Fatalf("IPv6 key %q falls in the IPv4 window [%q, %q)", k, start, end)
	}
}

func TestCursorKeyIsPerRangeSet(t *testing.T) {
	a := mustSet(t, nil, [4]string{"10.0.0.0/24", "10.0.0.10", "10.0.0.19", ""})
	b := mustSet(t, nil, [4]string{"10.0.0.0/24", "10.0.0.20", "10.0.0.29", ""})
	s := NewScope("/p", "")
	if s.CursorKey(a) == s.CursorKey(b) {
		t.Fatalf("two range sets in one subnet share the cursor %q", s.CursorKey(a))
	}
	if got := s.CursorKey(a); got != "/p/cursors/10.0.0.10-10.0.0.19" {
		t.Errorf("CursorKey = %q", got)
	}
}

func TestCoveringSubnetsDropsContainedAndRepeatedOnes(t *testing.T) {
	var in []netip.Prefix
	for _, s := range []string{"10.0.0.0/24", "10.0.0.0/23", "10.0.1.0/25", "10.0.0.0/23", "fd00::/64", "10.9.0.0/24"} {
		in = append(in, netip.MustParsePrefix(s))
	}
	var got []string
	for _, p := range coveringSubnets(in) {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/23 fd00::/64 10.9.0.0/24" {
		t.Fatalf("coveringSubnets = %v", got)
	}
}

// Another spelling of an address is not its key: it sorts outside key
// order, and the transactions guard only the fixed-width key. An address
// under the other family's prefix reads as no address at all, since List's
// callers read a key's address without its error (found by FuzzAddrFromKey).
func TestAddrFromKeyReadsOnlyTheFixedWidthForm(t *testing.T) {
	s := NewScope(DefaultPrefix, "")
	for _, tail := range []string{"ipv4/10.0.0.1", "ipv4/010.000.000.0001", "ipv6/::1", "ipv6/010.000.000.001",
		"ipv6/fe80:0000:0000:0000:0000:0000:0000:0001%eth0", "ipv4/0000:0000:0000:0000:0000:ffff:0a00:0001"} {
		if a, err := s.AddrFromKey(s.Key + "/" + tail); err == nil || a.IsValid() {
			t.Errorf("AddrFromKey(%q) = %s, %v; want no address and an error", tail, a, err)
		}
	}
}
