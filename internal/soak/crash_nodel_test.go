package soak

import (
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// crashWithoutDel is the second half of a plugin's kills: ADDs killed
// when the runtime's DEL never comes (containerd restarted and lost the
// sandbox), so only CNI GC, with the live pods as the valid attachments,
// can reclaim what they left. The failed pods then get new sandboxes, as
// the kubelet starts them. It returns the batch's pods and ADDs.
func (r *crashRun) crashWithoutDel(t *testing.T, w *crashWrap, role string, delays []time.Duration) ([]*podRun, *phase) {
	t.Helper()
	c, res := r.c, &r.res
	w.reset()
	if err := w.arm(delays); err != nil {
		t.Fatal(err)
	}
	pods, add := untilKilled(t, c, w, role+"-nodel", sandboxPolicy{})
	res.addPhase(add, true)
	w.disarm()
	killed, err := w.kills()
	if err != nil {
		t.Fatal(err)
	}
	res.NoDelKills = len(killed)
	var failed []*podRun
	for _, p := range pods {
		if p.live {
			continue
		}
		failed = append(failed, p)
		if _, ok := killed[p.rt.ContainerID]; !ok {
			continue
		}
		items, err := leftoversOf(c, p)
		if err != nil {
			t.Fatal(err)
		}
		res.NoDelLeft += len(items)
	}
	if err := clusterGC(c, pods); err != nil {
		c.expect(t)("CNI GC with the live pods as valid attachments: %v", err)
	}
	lists, err := runtimeLists(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range failed {
		items, err := leftoversOf(c, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := killed[p.rt.ContainerID]; ok {
			res.NoDelAfterGC += len(items)
		}
		if len(items) == 0 {
			continue
		}
		c.expect(t)("pod %s: its killed ADD got no DEL, and CNI GC left %v", p.key(), items)
		// Counted: the DEL that never came now cleans up, so the scenarios
		// after this one on the shared cluster do not inherit the leak.
		if err := p.cniDel(lists[p.node.name]); err != nil {
			t.Logf("pod %s: a late DEL of its killed sandbox: %v", p.key(), err)
		}
	}
	t.Logf("%s without the runtime's DEL: %d kills left %d things, %d after CNI GC", res.Scenario, res.NoDelKills, res.NoDelLeft, res.NoDelAfterGC)
	// The runtime's restart lost the sandboxes: new ones for the failed pods.
	for _, p := range failed {
		testenv.RemoveNS(p.netns)
		p.netns = nil
		p.newSandboxID(1)
	}
	again, err := addPods(c, failed, sandboxPolicy{retry: true})
	if err != nil {
		t.Fatal(err)
	}
	res.addPhase(again, true)
	if n := notLive(failed); n > 0 {
		c.expect(t)("%d of %d pods whose killed sandbox got no DEL have no network after new sandboxes: %v", n, len(failed), again.Messages)
	}
	return pods, mergePhases([]*phase{add, again})
}
