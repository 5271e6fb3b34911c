package ipam

import (
	"net/netip"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// Allocations recorded without a node (an ADD that had no node name) would
// all match an empty node, whichever node made them: GC refuses it.
func TestGCWithoutANodeReleasesNothing(t *testing.T) {
	s, _ := testStore(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	sets := []*RangeSet{mustSet(t, nil, [4]string{"10.0.0.0/24", "", "", ""})}
	for _, id := range []string{"nameless-a", "nameless-b"} {
		o := owner(id)
		o.Node = ""
		if _, err := s.Allocate(ctxT(t), Request{Owner: o, Sets: sets}); err != nil {
			t.Fatal(err)
		}
	}
	pools := []Pool{NewPool(s.Prefix, "", netip.MustParsePrefix("10.0.0.0/24"))}
	released, err := s.GC(ctxT(t), pools, "", "", nil)
	if err == nil || len(released) != 0 {
		t.Fatalf("GC with no node = %v, %v; want an error and nothing released", released, err)
	}
	if entries, _ := s.List(ctxT(t), pools[0]); len(entries) != 2 {
		t.Fatalf("after a refused GC the pool holds %d allocations, want 2", len(entries))
	}
}
