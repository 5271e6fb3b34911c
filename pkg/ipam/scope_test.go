package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// drainSets allocates from each config in turn until every one is full and
// fails the test if any address is handed out twice. It returns who got
// each address.
func drainSets(t *testing.T, s *Store, configs map[string][]*RangeSet, seen map[netip.Addr]string) {
	t.Helper()
	full := map[string]bool{}
	for i := 0; len(full) < len(configs); i++ {
		for name, sets := range configs {
			if full[name] {
				continue
			}
			id := fmt.Sprint(name, "-", i)
			got, err := s.Allocate(ctxT(t), Request{Owner: owner(id), Sets: sets})
			var rf *RangeFullError
			if errors.As(err, &rf) {
				full[name] = true
				continue
			}
			if err != nil {
				t.Fatalf("allocate %s: %v", id, err)
			}
			for _, a := range got {
				if prev, dup := seen[a.Addr]; dup {
					t.Fatalf("%s handed out twice: to %s and to %s", a.Addr, prev, id)
				}
				seen[a.Addr] = id
			}
		}
	}
}

// A /29 and a /28 over the same addresses on one wire: allocated from until
// both are full, they hand out each address of the /28 once.
func TestOverlappingSubnetsWithDifferentMasksNeverHandOutAnAddressTwice(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	seen := map[netip.Addr]string{}
	drainSets(t, s, map[string][]*RangeSet{
		"slash29": {mustSet(t, nil, [4]string{"10.0.0.0/29", "", "", ""})},
		"slash28": {mustSet(t, nil, [4]string{"10.0.0.0/28", "", "", ""})},
	}, seen)
	// The /28 hands out .2-.14 (.1 is its gateway): 13 addresses in all,
	// whoever took them.
	if len(seen) != 13 {
		t.Fatalf("%d addresses handed out, want the 13 of 10.0.0.2-10.0.0.14: %v", len(seen), seen)
	}
}

// An operator grows a /24 to a /23: the allocations made under the /24 stay
// valid, are seen by the /23, and the /23 fills up around them.
func TestGrowingASlash24ToASlash23KeepsItsAllocations(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	slash24 := []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/24", "", "", ""})}
	slash23 := []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/23", "", "", ""})}
	seen := map[netip.Addr]string{}
	for i := 0; i < 10; i++ {
		id := fmt.Sprint("old-", i)
		seen[allocOne(t, s, id, slash24, nil)[0].Addr] = id
	}
	static := netip.MustParseAddr("10.0.0.200")
	allocOne(t, s, "old-static", slash24, map[int]netip.Addr{0: static})
	seen[static] = "old-static"

	// A repeated ADD under the new config returns what the old one gave.
	if got := allocOne(t, s, "old-3", slash23, nil); got[0].Addr != netip.MustParseAddr("10.0.0.5") || got[0].Subnet.Bits() != 23 {
		t.Fatalf("repeat ADD of old-3 under the /23 = %s in %s, want 10.0.0.5 in the /23", got[0].Addr, got[0].Subnet)
	}
	fresh := *s
	fresh.claims = newClaims() // a new plugin process, with no hint of its own
	drainSets(t, &fresh, map[string][]*RangeSet{"new": slash23}, seen)
	// 10.0.0.1-10.0.1.254 less the gateway: 509, the old 11 included.
	if len(seen) != 509 {
		t.Fatalf("%d addresses held after filling the /23, want 509", len(seen))
	}
	if seen[netip.MustParseAddr("10.0.0.255")] == "" || seen[netip.MustParseAddr("10.0.0.0")] != "" {
		t.Error("the /23 must hand out the /24's broadcast 10.0.0.255 and never its network 10.0.0.0")
	}
	for i := 0; i < 10; i++ {
		held, err := s.Lookup(ctxT(t), fmt.Sprint("old-", i), "net1")
		if err != nil || held == nil || len(held.Missing) != 0 {
			t.Fatalf("old-%d after the grow: %+v, %v", i, held, err)
		}
	}
	cfg := &Config{RangeSets: slash23, Etcd: EtcdConfig{Prefix: s.Prefix}}
	reps, err := Inspect(ctxT(t), s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reps[0].Used != 509 || reps[0].Free != 0 || len(reps[0].Entries) != 509 {
		t.Fatalf("pool report of the /23: used %d, free %d, %d entries; want 509, 0, 509", reps[0].Used, reps[0].Free, len(reps[0].Entries))
	}
	// Releasing an old allocation frees it for the /23.
	if got, err := s.Release(ctxT(t), "old-0", "net1"); err != nil || len(got) != 1 {
		t.Fatalf("release old-0 = %v, %v", got, err)
	}
	if got := allocOne(t, &fresh, "after-release", slash23, nil); got[0].Addr != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("after releasing old-0 the /23 handed out %s, want its 10.0.0.2", got[0].Addr)
	}
}

// Two range sets over one subnet (host-local accepts them): one ADD gets an
// address from each, in one transaction.
func TestTwoRangeSetsInOneSubnetEachGiveAnAddress(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*RangeSet{
		mustSet(t, nil, [4]string{"10.0.0.0/24", "10.0.0.10", "10.0.0.11", ""}),
		mustSet(t, nil, [4]string{"10.0.0.0/24", "10.0.0.20", "10.0.0.21", ""}),
	}
	for _, fresh := range []bool{true, false} {
		id := fmt.Sprint("fresh-", fresh)
		if fresh {
			cs := *s
			cs.claims = newClaims()
			allocTwo(t, &cs, id, sets)
			continue
		}
		allocTwo(t, s, id, sets)
	}
	_, err := s.Allocate(ctxT(t), Request{Owner: owner("third"), Sets: sets})
	var rf *RangeFullError
	if !errors.As(err, &rf) {
		t.Fatalf("third ADD: %v, want the first set full", err)
	}
}

func allocTwo(t *testing.T, s *Store, id string, sets []*RangeSet) {
	t.Helper()
	got := allocOne(t, s, id, sets, nil)
	if len(got) != 2 || !sets[0].Allocatable(got[0].Addr) || !sets[1].Allocatable(got[1].Addr) {
		t.Fatalf("ADD %s got %s, want one address of each range set", id, addrs(got))
	}
}

// The most range sets a config may have fit in one etcd transaction at
// etcd's default --max-txn-ops.
func TestTheMostRangeSetsAConfigMayHaveAllocateInOneTransaction(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	var sets []*RangeSet
	for i := 0; i < MaxRangeSets; i++ {
		sets = append(sets, mustSet(t, nil, [4]string{fmt.Sprintf("10.%d.0.0/30", i), "", "", ""}))
	}
	if got := allocOne(t, s, "many", sets, nil); len(got) != MaxRangeSets {
		t.Fatalf("ADD over %d range sets got %d addresses", MaxRangeSets, len(got))
	}
	_, err := s.Allocate(ctxT(t), Request{Owner: owner("more"), Sets: sets})
	var rf *RangeFullError
	if !errors.As(err, &rf) {
		t.Fatalf("a second ADD over sets of one address each: %v, want the first set full", err)
	}
}
