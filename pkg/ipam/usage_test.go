package ipam

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

func usageConfig(t *testing.T, s *Store, endpoint string) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"macvlan-conf","ipam":{"type":"etcd-ipam",
	  "ranges":[[{"subnet":"192.168.91.0/24","rangeStart":"192.168.91.100","rangeEnd":"192.168.91.110"}],
	            [{"subnet":"fd00:91::/64","rangeStart":"fd00:91::10","rangeEnd":"fd00:91::13"}]],
	  "exclude":["192.168.91.105/32"],
	  "etcd":{"endpoints":[%q],"prefix":%q}}}`, endpoint, s.Prefix)), "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Addresses held outside a set's spans (excluded, or another config's part
// of the subnet) are not its usage; the count reads no key.
func TestUsageCountsOnlyTheSetsOwnAllocatedAddresses(t *testing.T) {
	c := testenv.StartEtcdClusterRetry(t, 1, nil)
	s, _ := testStore(t, c)
	cfg := usageConfig(t, s, c.Endpoints()[0])
	for i := range 3 {
		allocOne(t, s, fmt.Sprint("c", i), cfg.RangeSets, nil)
	}
	v4 := NewPool(s.Prefix, "", netip.MustParsePrefix("192.168.91.0/24"))
	fill(t, s, v4, []netip.Addr{netip.MustParseAddr("192.168.91.105"), netip.MustParseAddr("192.168.91.50")})

	var keys atomic.Int64
	got, err := Usage(ctxT(t), countingKV{s.KV, &keys}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []SetUsage{
		{RangeSet: cfg.RangeSets[0].String(), Total: 10, Used: 3, Free: 7},
		{RangeSet: cfg.RangeSets[1].String(), Total: 4, Used: 3, Free: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("usage = %+v\nwant    %+v", got, want)
	}
	if keys.Load() != 0 {
		t.Errorf("counting read %d keys; it must read none", keys.Load())
	}
}

func TestUsageOfAFullSetHasNoneFree(t *testing.T) {
	c := testenv.StartEtcdClusterRetry(t, 1, nil)
	s, _ := testStore(t, c)
	cfg := usageConfig(t, s, c.Endpoints()[0])
	for i := range 4 {
		allocOne(t, s, fmt.Sprint("c", i), cfg.RangeSets, nil)
	}
	got, err := Usage(ctxT(t), s.KV, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got[1].Used != 4 || got[1].Free != 0 || got[0].Used != 4 || got[0].Free != 6 {
		t.Fatalf("usage = %+v, want v6 4/4 used and v4 4 of 10", got)
	}
}

// Addresses another config handed out under a wider mask count as used in
// this set's spans: an address has one key per scope, whatever its mask.
func TestUsageCountsAllocationsMadeUnderAnOverlappingSubnet(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	wide := []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/28", "", "", ""})}
	for i := range 3 {
		allocOne(t, s, fmt.Sprint("wide", i), wide, nil) // .2, .3, .4
	}
	cfg := &Config{RangeSets: []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/29", "", "", ""})}, Etcd: EtcdConfig{Prefix: s.Prefix}}
	got, err := Usage(ctxT(t), s.KV, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Total != 5 || got[0].Used != 3 || got[0].Free != 2 {
		t.Fatalf("usage of the /29 = %+v, want 3 of its 5 used", got[0])
	}
}
