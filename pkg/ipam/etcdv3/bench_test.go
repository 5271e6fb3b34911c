package etcdv3

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/ipam"
)

// BenchmarkAllocateInProcessGRPC is ipam's BenchmarkAllocateInProcess over a
// warm gRPC client, as a node daemon would hold: 1000 allocations from a
// /16 at concurrency 1 and 8, against one and three members. b.N is ignored
// beyond 1; run with -benchtime 1x.
func BenchmarkAllocateInProcessGRPC(b *testing.B) {
	const n = 1000
	for _, members := range []int{1, 3} {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("etcd=%d/conc=%d", members, conc), func(b *testing.B) {
				s, _ := store(b, testenv.StartEtcdClusterRetry(b, members, nil))
				sets := []*ipam.RangeSet{set(b, "10.64.0.0/16")}
				if _, err := s.Allocate(ctx(b), ipam.Request{Owner: owner("warmup"), Sets: sets}); err != nil {
					b.Fatal(err)
				}
				lat := make([]time.Duration, n)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for w := 0; w < conc; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := int(next.Add(1)) - 1
							if i >= n {
								return
							}
							t0 := time.Now()
							if _, err := s.Allocate(ctx(b), ipam.Request{Owner: owner(fmt.Sprint("b", i)), Sets: sets}); err != nil {
								b.Errorf("allocate %d: %v", i, err)
								return
							}
							lat[i] = time.Since(t0)
						}
					}()
				}
				wg.Wait()
				wall := time.Since(start)
				slices.Sort(lat)
				pct := func(p float64) float64 { return float64(lat[int(p*float64(n-1))].Microseconds()) / 1000 }
				b.ReportMetric(float64(n)/wall.Seconds(), "allocs/s")
				b.ReportMetric(pct(0.50), "p50-ms")
				b.ReportMetric(pct(0.95), "p95-ms")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
