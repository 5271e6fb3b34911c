package ipam

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// BenchmarkAllocateInProcess measures the store with a warm client: a fixed
// 1000 allocations from a /16, at concurrency 1 and 8, against one and
// three etcd members. b.N is ignored beyond 1; run with -benchtime 1x.
func BenchmarkAllocateInProcess(b *testing.B) {
	const n = 1000
	for _, members := range []int{1, 3} {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("etcd=%d/conc=%d", members, conc), func(b *testing.B) {
				s, _ := testStore(b, testenv.StartEtcdClusterRetry(b, members, nil))
				sets := []*RangeSet{mustSetTB(b, "10.64.0.0/16")}
				allocOne(b, s, "warmup", sets, nil)
				testenv.ReportThroughput(b, n, conc, "allocs/s", func(i int) error {
					_, err := s.Allocate(ctxT(b), Request{Owner: owner(fmt.Sprint("b", i)), Sets: sets})
					return err
				})
			})
		}
	}
}

// BenchmarkAllocationCost compares one allocation in a /24 and in a /16,
// both 90% full with addresses taken at random: the cost must stay flat.
// It reports each size's p50 and keys read per allocation, and their ratio.
func BenchmarkAllocationCost(b *testing.B) {
	const n = 200
	s, _ := testStore(b, testenv.StartEtcdClusterRetry(b, 1, nil))
	p50 := map[string]float64{}
	for _, subnet := range []string{"10.1.0.0/24", "10.2.0.0/16"} {
		set := mustSetTB(b, subnet)
		pool := NewPool(s.Prefix, "", set.Ranges[0].Subnet)
		fillRandomly(b, s, pool, set, 90)
		var keys atomic.Int64
		cs := *s
		cs.KV = countingKV{s.KV, &keys}
		sets := []*RangeSet{set}
		allocOne(b, &cs, "warmup-"+subnet, sets, nil)
		keys.Store(0)
		lat := make([]time.Duration, n)
		for i := range lat {
			id := fmt.Sprint("cost-", subnet, i)
			t0 := time.Now()
			allocOne(b, &cs, id, sets, nil)
			lat[i] = time.Since(t0)
			// Release to stay at 90%: the cursor moves on, so the next
			// allocation searches afresh.
			if _, err := s.Release(ctxT(b), id, "net1"); err != nil {
				b.Fatal(err)
			}
		}
		slices.Sort(lat)
		name := "/24"
		if set.Ranges[0].Subnet.Bits() == 16 {
			name = "/16"
		}
		p50[name] = float64(lat[n/2].Microseconds()) / 1000
		b.ReportMetric(p50[name], "p50-ms-"+name)
		b.ReportMetric(float64(keys.Load())/n, "keys-read-"+name)
	}
	b.ReportMetric(p50["/16"]/p50["/24"], "p50-ratio-16/24")
	b.ReportMetric(0, "ns/op")
}

func mustSetTB(tb testing.TB, subnet string) *RangeSet {
	tb.Helper()
	r, err := NewRange(subnet, "", "", "")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := NewRangeSet([]Range{r}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
