package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestNewRangeFillsHostLocalDefaults(t *testing.T) {
	for _, tc := range []struct {
		subnet, start, end, gw     string
		wantStart, wantEnd, wantGW string
	}{
		{"10.10.20.0/24", "", "", "", "10.10.20.1", "10.10.20.254", "10.10.20.1"},
		{"10.10.20.0/24", "10.10.20.50", "10.10.20.70", "10.10.20.254", "10.10.20.50", "10.10.20.70", "10.10.20.254"},
		{"10.10.0.0/16", "", "", "", "10.10.0.1", "10.10.255.254", "10.10.0.1"},
		{"192.168.0.0/30", "", "", "", "192.168.0.1", "192.168.0.2", "192.168.0.1"},
		// IPv6 has no broadcast: the last address is a host.
		{"2001:db8::/120", "", "", "", "2001:db8::1", "2001:db8::ff", "2001:db8::1"},
		{"fd00:10::/64", "fd00:10::100", "fd00:10::1ff", "fd00:10::1", "fd00:10::100", "fd00:10::1ff", "fd00:10::1"},
	} {
		r, err := NewRange(tc.subnet, tc.start, tc.end, tc.gw)
		if err != nil {
			t.Fatalf("NewRange(%s): %v", tc.subnet, err)
		}
		if r.Start.String() != tc.wantStart || r.End.String() != tc.wantEnd || r.Gateway.String() != tc.wantGW {
			t.Errorf("NewRange(%s %s %s %s) = %s-%s gw %s, want %s-%s gw %s", tc.subnet, tc.start, tc.end, tc.gw,
				r.Start, r.End, r.Gateway, tc.wantStart, tc.wantEnd, tc.wantGW)
		}
	}
}

func TestNewRangeRejectsBadRangesNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		subnet, start, end, gw string
		field, msg             string
	}{
		{"10.0.0.1/24", "", "", "", "subnet", "host bits"},
		{"10.0.0.0/31", "", "", "", "subnet", "too small"},
		{"2001:db8::/127", "", "", "", "subnet", "too small"},
		{"banana", "", "", "", "subnet", "not a CIDR"},
		{"::ffff:10.0.0.0/120", "", "", "", "subnet", "IPv4-mapped"},
		{"10.0.0.0/24", "10.0.1.5", "", "", "rangeStart", "not in subnet"},
		{"10.0.0.0/24", "", "10.0.0.x", "", "rangeEnd", "not an IP"},
		{"10.0.0.0/24", "", "", "10.0.1.1", "gateway", "not in subnet"},
		{"10.0.0.0/24", "10.0.0.90", "10.0.0.80", "", "rangeStart", "after rangeEnd"},
		{"10.0.0.0/24", "2001:db8::1", "", "", "rangeStart", "not in subnet"},
	} {
		_, err := NewRange(tc.subnet, tc.start, tc.end, tc.gw)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("NewRange(%s %s %s %s) = %v, want a ConfigError", tc.subnet, tc.start, tc.end, tc.gw, err)
			continue
		}
		if ce.Field != tc.field || !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("NewRange(%s %s %s %s) = %v, want field %s and %q", tc.subnet, tc.start, tc.end, tc.gw, err, tc.field, tc.msg)
		}
	}
}

func TestRangeReservedAddresses(t *testing.T) {
	r, _ := NewRange("10.0.0.0/24", "", "", "10.0.0.254")
	for a, want := range map[string]bool{
		"10.0.0.0": true, "10.0.0.255": true, "10.0.0.254": true, "10.0.0.1": false, "10.0.0.253": false,
	} {
		if got := r.Reserved(netip.MustParseAddr(a)); got != want {
			t.Errorf("Reserved(%s) = %v, want %v", a, got, want)
		}
	}
	r6, _ := NewRange("2001:db8::/120", "", "", "")
	if r6.Reserved(netip.MustParseAddr("2001:db8::ff")) {
		t.Error("IPv6 has no broadcast, but the last address is reserved")
	}
	if !r6.Reserved(netip.MustParseAddr("2001:db8::")) {
		t.Error("the IPv6 subnet-router address is not reserved")
	}
}

func TestRangeOverlapsOnlyWithinAFamily(t *testing.T) {
	a, _ := NewRange("10.0.0.0/24", "10.0.0.10", "10.0.0.20", "")
	b, _ := NewRange("10.0.0.0/24", "10.0.0.20", "10.0.0.30", "")
	c, _ := NewRange("10.0.0.0/24", "10.0.0.21", "10.0.0.30", "")
	d, _ := NewRange("2001:db8::/120", "", "", "")
	if !a.Overlaps(b) || !b.Overlaps(a) {
		t.Error("ranges sharing 10.0.0.20 do not overlap")
	}
	if a.Overlaps(c) || a.Overlaps(d) {
		t.Error("disjoint ranges overlap")
	}
	if a.Size() != 11 {
		t.Errorf("Size = %d, want 11", a.Size())
	}
}
