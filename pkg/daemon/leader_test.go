package daemon

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// candidate is one daemon campaigning for the reconciler's Lease.
type candidate struct {
	leader atomic.Bool
	r      *Reconciler
	cancel context.CancelFunc
	done   chan struct{}
}

func TestOnlyTheLeaseHolderRunsPassesAndAnotherTakesOverWhenItStops(t *testing.T) {
	testenv.RequireRoot(t)
	k := testenv.StartKubeT(t)
	const ns = "meta-cni"
	if err := k.EnsureNamespace(ns); err != nil {
		t.Fatal(err)
	}
	cands := map[string]*candidate{}
	var wg sync.WaitGroup
	for _, id := range []string{"node-1", "node-2"} {
		ctx, cancel := context.WithCancel(context.Background())
		c := &candidate{cancel: cancel, done: make(chan struct{}),
			r: &Reconciler{Store: &fakeAllocations{}, Pods: &fakePods{}, Grace: time.Minute, Log: discard()}}
		cands[id] = c
		el := Election{Client: k.Clientset(), Namespace: ns, Identity: id,
			LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(c.done)
			if err := LeadReconciler(ctx, el, c.r, 100*time.Millisecond, &c.leader, discard()); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}()
	}
	t.Cleanup(func() {
		for _, c := range cands {
			c.cancel()
		}
		wg.Wait()
	})

	first := waitLeader(t, cands, 15*time.Second)
	time.Sleep(500 * time.Millisecond)
	for id, c := range cands {
		if id != first && (c.leader.Load() || c.r.passes.Load() != 0) {
			t.Fatalf("%s leads=%v with %d passes while %s holds the lease", id, c.leader.Load(), c.r.passes.Load(), first)
		}
	}
	if n := cands[first].r.passes.Load(); n < 2 {
		t.Errorf("leader %s ran %d passes in 500ms at a 100ms interval", first, n)
	}
	lease, err := k.Clientset().CoordinationV1().Leases(ns).Get(context.Background(), LeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != first {
		t.Errorf("lease holder = %v, want %s", lease.Spec.HolderIdentity, first)
	}

	cands[first].cancel()
	<-cands[first].done
	if cands[first].leader.Load() {
		t.Errorf("%s still reports leading after it stopped", first)
	}
	delete(cands, first)
	second := waitLeader(t, cands, 15*time.Second)
	if second == first {
		t.Fatalf("the stopped candidate leads again")
	}
	before := cands[second].r.passes.Load()
	time.Sleep(300 * time.Millisecond)
	if cands[second].r.passes.Load() <= before {
		t.Errorf("new leader %s runs no passes", second)
	}
}

func waitLeader(t *testing.T, cands map[string]*candidate, timeout time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var leaders []string
		for id, c := range cands {
			if c.leader.Load() {
				leaders = append(leaders, id)
			}
		}
		if len(leaders) > 1 {
			t.Fatalf("two leaders at once: %v", leaders)
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
	}
	t.Fatalf("no leader within %s", timeout)
	return ""
}
