package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// staticConf is a config with two range sets over 10.0.0.0/24 (.10-.19 and
// .20-.29), a dual-stack set, an exclusion, and the opt-in set or not.
func staticConf(anywhere bool, extra string) []byte {
	opt := ""
	if anywhere {
		opt = `"staticAnywhereInSubnet":true,`
	}
	return []byte(`{"cniVersion":"1.0.0","name":"underlay",` + extra + `"ipam":{` + opt + `
		"ranges":[[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.10","rangeEnd":"10.0.0.19"}],
		          [{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.20","rangeEnd":"10.0.0.29"}],
		          [{"subnet":"fd00::/120","rangeStart":"fd00::10","rangeEnd":"fd00::1f"}]],
		"exclude":["10.0.0.16/30","fd00::18"],` + etcdBlock + `}}`)
}

// As host-local does, a requested address must lie in a range; one in an
// exclusion is refused too. The message names the address, the field it
// came from and the ranges or the exclusion at fault.
func TestStaticAddressOutsideTheRangesOrExcludedIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name, extra, args, field string
		want                     []string
	}{
		{"outside every range, from CNI_ARGS", "", "IP=10.0.0.50", "CNI_ARGS IP",
			[]string{"10.0.0.50", "outside every range", "10.0.0.10-10.0.0.19 in 10.0.0.0/24", "10.0.0.20-10.0.0.29 in 10.0.0.0/24", "ipam.staticAnywhereInSubnet"}},
		{"excluded, from runtimeConfig", `"runtimeConfig":{"ips":["10.0.0.17/24"]},`, "", "runtimeConfig.ips[0]",
			[]string{"10.0.0.17", "ipam.exclude[0]", "10.0.0.16/30", "ipam.staticAnywhereInSubnet"}},
		{"excluded IPv6, from args", `"args":{"cni":{"ips":["fd00::18"]}},`, "", "args.cni.ips[0]",
			[]string{"fd00::18", "ipam.exclude[1]"}},
		{"outside the IPv6 range", `"args":{"cni":{"ips":["10.0.0.12","fd00::80"]}},`, "", "args.cni.ips[1]",
			[]string{"fd00::80", "fd00::10-fd00::1f in fd00::/120"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(staticConf(false, tc.extra), tc.args)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("ParseConfig: %v, want a ConfigError on %s", err, tc.field)
			}
			if code := cniError(err).Code; code != 7 {
				t.Errorf("code %d, want 7", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not name %q", err, w)
				}
			}
		})
	}
}

// With ipam.staticAnywhereInSubnet, a requested address may lie anywhere
// in a configured subnet, except its network, broadcast or gateway.
func TestStaticAnywhereInSubnetAllowsOutOfRangeAndExcludedAddresses(t *testing.T) {
	c, err := ParseConfig(staticConf(true, `"runtimeConfig":{"ips":["10.0.0.17/24","fd00::80"]},`), "IP=10.0.0.50")
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	// .17 is in the first set's range (excluded), so it goes there; .50
	// is in no range and goes to the first set of its subnet still free.
	want := map[int]netip.Addr{0: netip.MustParseAddr("10.0.0.17"), 1: netip.MustParseAddr("10.0.0.50"), 2: netip.MustParseAddr("fd00::80")}
	if len(c.Static) != 3 || c.Static[0] != want[0] || c.Static[1] != want[1] || c.Static[2] != want[2] {
		t.Fatalf("static = %v, want %v", c.Static, want)
	}
	for _, ip := range []string{"10.0.0.0", "10.0.0.1", "10.0.0.255", "10.0.1.5"} {
		if _, err := ParseConfig(staticConf(true, ""), "IP="+ip); err == nil {
			t.Errorf("IP=%s accepted with staticAnywhereInSubnet", ip)
		}
	}
}

// Each requested address goes to the range set whose range holds it, so
// with two sets over one subnet, each gets its own.
func TestStaticAddressGoesToTheRangeSetWhoseRangeHoldsIt(t *testing.T) {
	c, err := ParseConfig(staticConf(false, ""), "IP=10.0.0.25,10.0.0.12,10.0.0.25")
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if c.Static[0] != netip.MustParseAddr("10.0.0.12") || c.Static[1] != netip.MustParseAddr("10.0.0.25") || len(c.Static) != 2 {
		t.Fatalf("static = %v, want .12 in set 0 and .25 in set 1", c.Static)
	}
	_, err = ParseConfig(staticConf(false, ""), "IP=10.0.0.21,10.0.0.25")
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "one address per range set") {
		t.Fatalf("two addresses for one set: %v", err)
	}
}
