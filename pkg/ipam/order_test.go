package ipam

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// Pods started together, as a Deployment's replicas are, each from its own
// plugin process (its own Store), still get the range's next addresses in
// order: five at once from a fresh .100-.110 get exactly .100-.104, not a
// spread that skips some (issue 8's seed scenario on a real node got
// .100-.103 and .107 before).
func TestConcurrentProcessesKeepNextFitOrder(t *testing.T) {
	c := testenv.StartEtcdClusterRetry(t, 1, nil)
	base, _ := testStore(t, c)
	for round := 0; round < 5; round++ {
		sets := []*RangeSet{mustSet(t, nil, [4]string{"192.168.91.0/24", "192.168.91.100", "192.168.91.110", ""})}
		prefix := fmt.Sprintf("%s/round%d", base.Prefix, round)
		const pods = 5
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			mu    sync.Mutex
			got   []netip.Addr
		)
		for i := 0; i < pods; i++ {
			s := NewStoreKV(base.KV, prefix, "", base.Log) // a plugin process of its own
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				a, err := s.Allocate(ctxT(t), Request{Owner: owner(fmt.Sprintf("r%d-pod%d", round, i)), Sets: sets})
				if err != nil {
					t.Errorf("allocate: %v", err)
					return
				}
				mu.Lock()
				got = append(got, a[0].Addr)
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		slices.SortFunc(got, func(a, b netip.Addr) int { return a.Compare(b) })
		var want []netip.Addr
		for a := netip.MustParseAddr("192.168.91.100"); len(want) < pods; a = a.Next() {
			want = append(want, a)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: %d pods at once got %v, want %v", round, pods, got, want)
		}
	}
}

// A lost race counts how many of the addresses the ADD saw free were taken
// meanwhile: the size of the crowd it is in, which decides whether its
// retry keeps address order or spreads.
func TestALostRaceMeasuresItsCrowd(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	w := Window{First: a("10.0.0.1"), Last: a("10.0.0.8")}
	for _, tc := range []struct {
		name       string
		seen, free []netip.Addr
		want       int
	}{
		{"only the address tried", []netip.Addr{a("10.0.0.1"), a("10.0.0.2")}, []netip.Addr{a("10.0.0.2"), a("10.0.0.3")}, 1},
		{"nobody else", []netip.Addr{a("10.0.0.1"), a("10.0.0.2")}, []netip.Addr{a("10.0.0.1"), a("10.0.0.2")}, 0},
		{"a crowd took them all", []netip.Addr{a("10.0.0.1"), a("10.0.0.2"), a("10.0.0.3"), a("10.0.0.4"), a("10.0.0.5"), a("10.0.0.6"), a("10.0.0.7"), a("10.0.0.8")}, nil, 8},
		{"candidates past the window do not count", []netip.Addr{a("10.0.0.7"), a("10.0.0.8"), a("10.0.0.9"), a("10.0.0.10")}, nil, 2},
	} {
		if got := takenSince(tc.seen, tc.free, w); got != tc.want {
			t.Errorf("%s: takenSince = %d, want %d", tc.name, got, tc.want)
		}
	}
	p := &pick{addr: a("10.0.0.3"), cands: []netip.Addr{a("10.0.0.4")}}
	if got := p.seenFree(); !slices.Equal(got, []netip.Addr{a("10.0.0.3"), a("10.0.0.4")}) {
		t.Errorf("from the cursor, seen free = %v, want the address tried and the candidates after it", got)
	}
	p.free = []netip.Addr{a("10.0.0.5")}
	if got := p.seenFree(); !slices.Equal(got, p.free) {
		t.Errorf("after a window read, seen free = %v, want the read's %v", got, p.free)
	}
}
