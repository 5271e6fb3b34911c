package etcdv3

import (
	"fmt"
	"testing"

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
				testenv.ReportThroughput(b, n, conc, "allocs/s", func(i int) error {
					_, err := s.Allocate(ctx(b), ipam.Request{Owner: owner(fmt.Sprint("b", i)), Sets: sets})
					return err
				})
			})
		}
	}
}
