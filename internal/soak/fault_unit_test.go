package soak

import (
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
)

func TestFaultWindowCountsOnlyWhatEndedDuringTheFaultAndTheFirstSuccessStartedAfterIt(t *testing.T) {
	w := newFaultWindow(2)
	tryLater := &types.Error{Code: 11, Msg: "etcd unavailable"}
	w.observe(nil, time.Now(), time.Millisecond, nil)
	select {
	case <-w.fire:
		t.Fatal("fired after one ADD of two")
	default:
	}
	w.observe(nil, time.Now(), time.Millisecond, nil)
	<-w.fire // after two

	start := w.begin()
	// In flight at the fault: counted during it, but not a success after it.
	w.observe(nil, start.Add(100*time.Millisecond), time.Second, nil)
	w.observe(nil, start.Add(200*time.Millisecond), 150*time.Millisecond, tryLater)
	w.observe(nil, start.Add(300*time.Millisecond), 250*time.Millisecond, tryLater)
	// Started after it: the first success is at 900 ms, though one that
	// ended later was reported first.
	w.observe(nil, start.Add(1500*time.Millisecond), time.Second, nil)
	w.observe(nil, start.Add(900*time.Millisecond), 500*time.Millisecond, nil)
	w.observeDel(nil)
	w.mu.Lock()
	w.end = start.Add(2 * time.Second)
	w.mu.Unlock()
	w.observe(nil, start.Add(3*time.Second), time.Second, tryLater) // after the fault
	w.observeDel(tryLater)

	var r Result
	w.fill(&r)
	if r.FaultMs != 2000 {
		t.Errorf("FaultMs = %v, want 2000", r.FaultMs)
	}
	if r.FaultAdds["ok"] != 3 || r.FaultAdds["11"] != 2 || len(r.FaultAdds) != 2 {
		t.Errorf("FaultAdds = %v, want ok: 3, 11: 2", r.FaultAdds)
	}
	if r.FaultFailP50Ms != 150 || r.FaultFailP95Ms != 150 {
		t.Errorf("failed ADDs p50 / p95 = %v / %v ms, want the lower of 150 and 250 for both (two samples)", r.FaultFailP50Ms, r.FaultFailP95Ms)
	}
	if r.FailedForMs != 900 {
		t.Errorf("FailedForMs = %v, want 900", r.FailedForMs)
	}
	if r.FaultDels["ok"] != 1 || r.FaultDels["11 (ended after it)"] != 1 {
		t.Errorf("FaultDels = %v", r.FaultDels)
	}

	none := newFaultWindow(1)
	none.begin()
	none.finish()
	var nr Result
	none.fill(&nr)
	if nr.FailedForMs != -1 || nr.FaultDels != nil {
		t.Errorf("a fault with no ADD after it: FailedForMs %v (want -1), FaultDels %v (want nil)", nr.FailedForMs, nr.FaultDels)
	}
}
