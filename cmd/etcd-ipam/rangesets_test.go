package main

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// Two range sets over one subnet are valid host-local config: ADD returns
// an address from each, a repeat returns the same, DEL frees both.
func TestTwoRangeSetsOverOneSubnetGiveAnAddressEach(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	conf := r.conf("1.0.0", map[string]any{"ranges": [][]map[string]string{
		{{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "rangeEnd": "10.0.0.19"}},
		{{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.20", "rangeEnd": "10.0.0.29"}},
	}})
	out, err := r.exec("ADD", "two", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-0", conf)
	if err != nil {
		code, msg := cniCode(t, err)
		t.Fatalf("ADD failed with code %d: %s", code, msg)
	}
	got := ips(t, "1.0.0", out)
	if len(got) != 2 {
		t.Fatalf("ADD returned %v, want two addresses", got)
	}
	first, second := netip.MustParsePrefix(got[0]).Addr(), netip.MustParsePrefix(got[1]).Addr()
	in := func(a netip.Addr, lo, hi string) bool {
		return a.Compare(netip.MustParseAddr(lo)) >= 0 && a.Compare(netip.MustParseAddr(hi)) <= 0
	}
	if !in(first, "10.0.0.10", "10.0.0.19") || !in(second, "10.0.0.20", "10.0.0.29") {
		t.Fatalf("ADD returned %v, want one of .10-.19 then one of .20-.29", got)
	}
	if again := ips(t, "1.0.0", r.mustExec("ADD", "two", "", conf)); !slices.Equal(again, got) {
		t.Fatalf("repeat ADD returned %v, want %v", again, got)
	}
	r.mustExec("CHECK", "two", "", withPrev(t, conf, out))
	r.mustExec("DEL", "two", "", conf)
	if left := r.allocationKeys(); len(left) != 0 {
		t.Fatalf("keys left after DEL: %v", left)
	}
}
