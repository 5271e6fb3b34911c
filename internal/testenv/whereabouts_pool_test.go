package testenv

import (
	"net/netip"
	"testing"
)

func TestWhereaboutsOffsetsCountFromTheRangesFirstAddress(t *testing.T) {
	cases := []struct {
		first  string
		offset uint64
		want   string
	}{
		{"192.168.92.0", 5, "192.168.92.5"},
		{"10.0.0.250", 10, "10.0.1.4"},
		{"10.255.255.255", 1, "11.0.0.0"},
		{"fd00::", 256, "fd00::100"},
		{"fd00::ffff:ffff", 1, "fd00::1:0:0"},
	}
	for _, tc := range cases {
		if got := addOffset(netip.MustParseAddr(tc.first), tc.offset); got.String() != tc.want {
			t.Errorf("%s + %d = %s, want %s", tc.first, tc.offset, got, tc.want)
		}
	}
}
