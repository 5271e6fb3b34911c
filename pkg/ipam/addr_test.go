package ipam

import (
	"net/netip"
	"testing"
)

func TestAddrAddStaysInFamily(t *testing.T) {
	for _, tc := range []struct {
		a    string
		n    uint64
		want string // "" means leaves the family
	}{
		{"10.0.0.1", 1, "10.0.0.2"},
		{"10.0.0.255", 1, "10.0.1.0"},
		{"255.255.255.254", 1, "255.255.255.255"},
		{"255.255.255.255", 1, ""},
		{"0.0.0.0", 1 << 32, ""},
		{"2001:db8::ffff:ffff:ffff:ffff", 1, "2001:db8:0:1::"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, ""},
		{"::", 1 << 40, "::100:0:0"},
	} {
		got, ok := addrAdd(netip.MustParseAddr(tc.a), tc.n)
		if tc.want == "" {
			if ok {
				t.Errorf("%s+%d = %s, want overflow", tc.a, tc.n, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s+%d = %s,%v, want %s", tc.a, tc.n, got, ok, tc.want)
		}
	}
}

func TestAddrCountSaturatesForHugeIPv6Ranges(t *testing.T) {
	for _, tc := range []struct {
		first, last string
		want        uint64
	}{
		{"10.0.0.0", "10.0.0.0", 1},
		{"10.0.0.0", "10.0.255.255", 65536},
		{"2001:db8::", "2001:db8::ff", 256},
		{"2001:db8::", "2001:db8:0:1::", ^uint64(0)},
		{"::", "::ffff:ffff:ffff:ffff", ^uint64(0)},
	} {
		if got := addrCount(netip.MustParseAddr(tc.first), netip.MustParseAddr(tc.last)); got != tc.want {
			t.Errorf("addrCount(%s, %s) = %d, want %d", tc.first, tc.last, got, tc.want)
		}
	}
}

func TestLastAddrIsTheTopOfThePrefix(t *testing.T) {
	for p, want := range map[string]string{
		"10.0.0.0/24":    "10.0.0.255",
		"10.0.0.0/23":    "10.0.1.255",
		"10.1.2.3/8":     "10.255.255.255",
		"2001:db8::/64":  "2001:db8::ffff:ffff:ffff:ffff",
		"2001:db8::/127": "2001:db8::1",
	} {
		if got := lastAddr(netip.MustParsePrefix(p)); got != netip.MustParseAddr(want) {
			t.Errorf("lastAddr(%s) = %s, want %s", p, got, want)
		}
	}
}
