package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// Both paths are covered: a warm store resuming after its own last address,
// and a fresh process (a plugin run) reading the pool's cursor.
func TestAllocateResumesAfterTheLastAddressSoAFreedOneIsNotReused(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		t.Run(fmt.Sprintf("fresh=%v", fresh), func(t *testing.T) {
			s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
			if fresh {
				s.KV = freshKV{s.KV, s.claims}
			}
			testAllocationOrder(t, s)
		})
	}
}

// freshKV forgets the store's hints before every transaction, so each
// allocation behaves as a new plugin process.
type freshKV struct {
	KV
	c *claims
}

func (f freshKV) Txn(ctx context.Context, cmps []Cmp, then, els []Op) (*TxnResponse, error) {
	f.c.mu.Lock()
	clear(f.c.hints)
	f.c.mu.Unlock()
	return f.KV.Txn(ctx, cmps, then, els)
}

func testAllocationOrder(t *testing.T, s *Store) {
	sets := []*RangeSet{mustSet(t, nil, [4]string{"192.168.91.0/24", "192.168.91.100", "192.168.91.110", "192.168.91.1"})}
	var got []string
	for i := 0; i < 5; i++ {
		got = append(got, addrs(allocOne(t, s, fmt.Sprint("c", i), sets, nil)))
	}
	if strings.Join(got, " ") != "192.168.91.100 192.168.91.101 192.168.91.102 192.168.91.103 192.168.91.104" {
		t.Fatalf("first five = %v", got)
	}
	if _, err := s.Release(ctxT(t), "c1", "net1"); err != nil {
		t.Fatal(err)
	}
	if a := addrs(allocOne(t, s, "c5", sets, nil)); a != "192.168.91.105" {
		t.Fatalf("after freeing .101 the next ADD got %s, want .105", a)
	}
	// Wrap around: fill to the end, then the freed .101 is the next free.
	for i := 6; i <= 10; i++ {
		allocOne(t, s, fmt.Sprint("c", i), sets, nil)
	}
	if a := addrs(allocOne(t, s, "c11", sets, nil)); a != "192.168.91.101" {
		t.Fatalf("after wrapping the next ADD got %s, want the freed .101", a)
	}
}

func TestAllocateRepeatedForTheSameOwnerReturnsTheSameAddresses(t *testing.T) {
	s, e := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*RangeSet{
		mustSet(t, nil, [4]string{"10.0.0.0/24", "", "", ""}),
		mustSet(t, nil, [4]string{"fd00::/120", "", "", ""}),
	}
	first := allocOne(t, s, "c1", sets, nil)
	again := allocOne(t, s, "c1", sets, nil)
	if addrs(first) != addrs(again) || len(first) != 2 {
		t.Fatalf("repeat ADD = %s, first = %s", addrs(again), addrs(first))
	}
	if n := len(keysUnder(t, e, s.Prefix+"/owners/")); n != 1 {
		t.Fatalf("%d owner keys, want 1", n)
	}
	other := allocOne(t, s, "c2", sets, nil)
	if addrs(other) == addrs(first) {
		t.Fatal("another container got the same addresses")
	}
}

func TestConfigsSharingASubnetNeverHandOutTheSameAddress(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	a := []*RangeSet{mustSet(t, nil, [4]string{"10.10.20.0/24", "10.10.20.10", "10.10.20.19", ""})}
	b := []*RangeSet{mustSet(t, nil, [4]string{"10.10.20.0/24", "10.10.20.15", "10.10.20.24", ""})}
	seen := map[string]string{}
	full := map[string]bool{}
	for i := 0; len(full) < 2; i++ {
		sets, name := a, "a"
		if i%2 == 1 {
			sets, name = b, "b"
		}
		got, err := s.Allocate(ctxT(t), Request{Owner: owner(fmt.Sprint(name, i)), Sets: sets})
		var rf *RangeFullError
		if errors.As(err, &rf) {
			full[name] = true
			continue
		}
		if err != nil {
			t.Fatalf("allocate %d: %v", i, err)
		}
		ip := addrs(got)
		if prev, dup := seen[ip]; dup {
			t.Fatalf("%s handed out twice: %s and %s%d", ip, prev, name, i)
		}
		seen[ip] = fmt.Sprint(name, i)
	}
	if len(seen) != 15 {
		t.Fatalf("%d addresses, want all 15 of the union .10-.24", len(seen))
	}
}

func TestNetworkScopeSeparatesPoolsThatReuseACIDR(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/24", "", "", ""})}
	first := addrs(allocOne(t, s, "c1", sets, nil))
	s.Network = "rack-b"
	if got := addrs(allocOne(t, s, "c2", sets, nil)); got != first {
		t.Fatalf("rack-b got %s, want the same first address %s as the default scope", got, first)
	}
}

func TestStaticAddressIsReservedAndAConflictNamesTheOwner(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*RangeSet{mustSet(t, []string{"10.0.0.200/29"}, [4]string{"10.0.0.0/24", "10.0.0.10", "10.0.0.20", ""})}
	static := map[int]netip.Addr{0: netip.MustParseAddr("10.0.0.201")}
	if got := addrs(allocOne(t, s, "c1", sets, static)); got != "10.0.0.201" {
		t.Fatalf("static ADD got %s", got)
	}
	// The same owner asking again is a repeat, not a conflict.
	if got := addrs(allocOne(t, s, "c1", sets, static)); got != "10.0.0.201" {
		t.Fatalf("repeat static ADD got %s", got)
	}
	_, err := s.Allocate(ctxT(t), Request{Owner: owner("c2"), Sets: sets, Static: static})
	var oe *OwnedError
	if !errors.As(err, &oe) {
		t.Fatalf("conflicting static ADD: %v, want OwnedError", err)
	}
	for _, want := range []string{"10.0.0.201", "ns/pod-c1", "container c1", "interface net1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if cniError(err).Code != CodeAddressOwned {
		t.Errorf("code %d, want %d", cniError(err).Code, CodeAddressOwned)
	}
	// A static address inside the range is reserved against dynamic ADDs.
	static2 := map[int]netip.Addr{0: netip.MustParseAddr("10.0.0.10")}
	allocOne(t, s, "c3", sets, static2)
	if got := addrs(allocOne(t, s, "c4", sets, nil)); got == "10.0.0.10" {
		t.Fatal("a dynamic ADD got the reserved static address")
	}
}

func TestAFullRangeSetIsReportedWithItsSize(t *testing.T) {
	s, e := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*RangeSet{mustSet(t, []string{"10.0.0.3"}, [4]string{"10.0.0.0/29", "", "", ""})}
	for i := 0; i < 4; i++ {
		allocOne(t, s, fmt.Sprint("c", i), sets, nil)
	}
	_, err := s.Allocate(ctxT(t), Request{Owner: owner("c9"), Sets: sets})
	var rf *RangeFullError
	if !errors.As(err, &rf) || rf.Size != 4 || !strings.Contains(err.Error(), "10.0.0.1-10.0.0.6 in 10.0.0.0/29") {
		t.Fatalf("ADD on a full set: %v", err)
	}
	if cniError(err).Code != CodeRangeFull {
		t.Errorf("code %d, want %d", cniError(err).Code, CodeRangeFull)
	}
	if n := len(keysUnder(t, e, s.Prefix+"/owners/")); n != 4 {
		t.Fatalf("%d owners after a failed ADD, want 4", n)
	}
}

func TestDualStackAllocationIsAllOrNothing(t *testing.T) {
	s, e := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	v4 := mustSet(t, nil, [4]string{"10.0.0.0/30", "", "", ""}) // one address: .2
	v6 := mustSet(t, nil, [4]string{"fd00::/120", "", "", ""})
	sets := []*RangeSet{v4, v6}
	allocOne(t, s, "c1", sets, nil)
	before := keysUnder(t, e, s.Prefix)
	// v4 is full: the v6 address must not be taken either.
	if _, err := s.Allocate(ctxT(t), Request{Owner: owner("c2"), Sets: sets}); err == nil {
		t.Fatal("ADD succeeded with the v4 set full")
	}
	// A static v6 conflict must not leave a v4 address behind.
	if _, err := s.Release(ctxT(t), "c1", "net1"); err != nil {
		t.Fatal(err)
	}
	allocOne(t, s, "c3", []*RangeSet{v6}, map[int]netip.Addr{0: netip.MustParseAddr("fd00::77")})
	mid := keysUnder(t, e, s.Prefix+"/ipv")
	if _, err := s.Allocate(ctxT(t), Request{Owner: owner("c4"), Sets: sets, Static: map[int]netip.Addr{1: netip.MustParseAddr("fd00::77")}}); err == nil {
		t.Fatal("ADD succeeded with its v6 address owned by c3")
	}
	after := keysUnder(t, e, s.Prefix+"/ipv")
	if strings.Join(mid, ",") != strings.Join(after, ",") {
		t.Fatalf("a failed dual-stack ADD changed the pools:\nbefore %v\nafter  %v", mid, after)
	}
	if len(before) == 0 {
		t.Fatal("no keys after the first ADD")
	}
}

func TestReleaseIsByOwnerAndIdempotent(t *testing.T) {
	s, e := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/24", "", "", ""}), mustSet(t, nil, [4]string{"fd00::/120", "", "", ""})}
	allocOne(t, s, "c1", sets, nil)
	keep := allocOne(t, s, "c2", sets, nil)
	got, err := s.Release(ctxT(t), "c1", "net1")
	if err != nil || len(got) != 2 {
		t.Fatalf("release c1 = %v, %v", got, err)
	}
	if got, err := s.Release(ctxT(t), "c1", "net1"); err != nil || len(got) != 0 {
		t.Fatalf("second release = %v, %v; want nothing and no error", got, err)
	}
	if got, err := s.Release(ctxT(t), "c1", "eth0"); err != nil || len(got) != 0 {
		t.Fatalf("release of another interface = %v, %v", got, err)
	}
	held, err := s.Lookup(ctxT(t), "c2", "net1")
	if err != nil || held == nil || len(held.Missing) != 0 || len(held.Addrs) != 2 || held.Addrs[0].Addr != keep[0].Addr {
		t.Fatalf("c2 after releasing c1: %+v, %v", held, err)
	}
	s.Release(ctxT(t), "c2", "net1")
	for _, k := range keysUnder(t, e, s.Prefix) {
		if !strings.HasPrefix(k, s.Prefix+"/cursors/") {
			t.Errorf("key %s left after releasing everything", k)
		}
	}
}

// An operator who frees an address by hand lets it be handed out again;
// releasing the first owner must then leave the new owner's key alone.
func TestReleaseNeverDeletesAnAddressHandedToAnotherOwner(t *testing.T) {
	s, e := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/24", "", "", ""})}
	a := allocOne(t, s, "c1", sets, nil)[0]
	key := NewPool(s.Prefix, "", a.Subnet).IPKey(a.Addr)
	if _, err := e.KV().Txn(ctxT(t), nil, []Op{Delete(key)}, nil); err != nil {
		t.Fatal(err)
	}
	allocOne(t, s, "c2", sets, map[int]netip.Addr{0: a.Addr})
	held, _ := s.Lookup(ctxT(t), "c1", "net1")
	if held == nil || len(held.Missing) != 1 {
		t.Fatalf("Lookup c1 = %+v, want its address reported missing", held)
	}
	if got, err := s.Release(ctxT(t), "c1", "net1"); err != nil || len(got) != 0 {
		t.Fatalf("release c1 = %v, %v; want no address released", got, err)
	}
	held, _ = s.Lookup(ctxT(t), "c2", "net1")
	if held == nil || len(held.Missing) != 0 {
		t.Fatalf("c2 lost its address: %+v", held)
	}
}

func TestGCReleasesOnlyThisNodesAllocationsMissingFromValidAttachments(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/24", "", "", ""})}
	for _, id := range []string{"keep", "stale1", "stale2"} {
		allocOne(t, s, id, sets, nil)
	}
	other := owner("other-node")
	other.Node = "node-b"
	if _, err := s.Allocate(ctxT(t), Request{Owner: other, Sets: sets}); err != nil {
		t.Fatal(err)
	}
	// Another network on the same subnet and node: its attachments are not
	// in this network's list, and GC must not take them.
	neighbour := owner("other-network")
	neighbour.Network = "storage"
	if _, err := s.Allocate(ctxT(t), Request{Owner: neighbour, Sets: sets}); err != nil {
		t.Fatal(err)
	}
	pools := []Pool{NewPool(s.Prefix, "", netip.MustParsePrefix("10.0.0.0/24"))}
	released, err := s.GC(ctxT(t), pools, "node-a", "", map[[2]string]bool{{"keep", "net1"}: true})
	if err != nil || len(released) != 2 {
		t.Fatalf("GC = %v, %v; want 2 released", released, err)
	}
	entries, _ := s.List(ctxT(t), pools[0])
	var left []string
	for _, e := range entries {
		left = append(left, e.ContainerID)
	}
	if strings.Join(left, ",") != "keep,other-node,other-network" {
		t.Fatalf("after GC the pool holds %v, want keep, other-node and other-network", left)
	}
}

// Many goroutines race for one small pool: no address twice, none lost.
func TestConcurrentAllocationsInProcessHaveNoDuplicates(t *testing.T) {
	s, e := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/25", "", "", ""})}
	var mu sync.Mutex
	seen := map[netip.Addr]string{}
	var full atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				got, err := s.Allocate(ctxT(t), Request{Owner: owner(id), Sets: sets})
				var rf *RangeFullError
				if errors.As(err, &rf) {
					full.Add(1)
					return
				}
				if err != nil {
					t.Errorf("allocate %s: %v", id, err)
					return
				}
				mu.Lock()
				if prev, dup := seen[got[0].Addr]; dup {
					t.Errorf("%s handed to %s and %s", got[0].Addr, prev, id)
				}
				seen[got[0].Addr] = id
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 125 || full.Load() != 12 {
		t.Fatalf("%d addresses handed out (want 125), %d workers saw the pool full", len(seen), full.Load())
	}
	if n := len(keysUnder(t, e, s.Prefix+"/owners/")); n != 125 {
		t.Fatalf("%d owner keys, want 125", n)
	}
}

// Finding a free address reads a window, not the pool: in a 90%-full /16 an
// allocation reads no more keys than in a 90%-full /24.
func TestAllocationReadsAWindowNotThePool(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	perAlloc := map[string]float64{}
	for _, subnet := range []string{"10.1.0.0/24", "10.2.0.0/16"} {
		set := mustSet(t, nil, [4]string{subnet, "", "", ""})
		pool := NewPool(s.Prefix, "", set.Ranges[0].Subnet)
		fillRandomly(t, s, pool, set, 90)
		var keys atomic.Int64
		cs := *s
		cs.KV = countingKV{s.KV, &keys}
		const n = 20
		for i := 0; i < n; i++ {
			allocOne(t, &cs, fmt.Sprint(subnet, i), []*RangeSet{set}, nil)
		}
		perAlloc[subnet] = float64(keys.Load()) / n
	}
	t.Logf("keys read per allocation: %v", perAlloc)
	if perAlloc["10.2.0.0/16"] > 2*DefaultWindow {
		t.Fatalf("an allocation in a 90%%-full /16 read %.0f keys, more than two windows", perAlloc["10.2.0.0/16"])
	}
	if perAlloc["10.2.0.0/16"] > 1.5*perAlloc["10.1.0.0/24"]+DefaultWindow/4 {
		t.Fatalf("/16 reads %.0f keys per allocation against %.0f for a /24", perAlloc["10.2.0.0/16"], perAlloc["10.1.0.0/24"])
	}
}
