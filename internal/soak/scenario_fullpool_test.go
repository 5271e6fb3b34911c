package soak

import (
	"context"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// Scenario 7: more pods than the pool has addresses. The pool fills, every
// ADD past it fails with code 100 (range full) and leaves its pod's netns
// empty and nothing on its node or in the store; once pods are deleted,
// new pods get addresses again.
func TestFullPoolRefusesWithCode100AndResumesAfterDeletes(t *testing.T) {
	c := metaCNICluster(t)
	size := c.scale.PoolFull
	extra := max(size/5, len(c.nodes))
	p := newPool("10.20.4.0/22", size)
	ensureNetwork(t, c, "full-pool", p)
	res := newResult(c, "full-pool", size+extra, 1, size)
	ctx := context.Background()

	progressf("full-pool: %d pods for %d addresses", size+extra, size)
	pods, err := createPods(ctx, c, "full-pool", "fill", "macvlan", size+extra)
	if err != nil {
		t.Fatal(err)
	}
	add, err := addPods(c, pods, sandboxPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	res.addPhase(add, true)
	if ok := len(add.Latencies); ok != size || add.Errors["100"] != extra || add.failed() != extra {
		t.Errorf("%d ADDs for a pool of %d: %d succeeded, errors by code %v; want %d, and %d with code 100; first errors: %v",
			add.Ops, size, ok, add.Errors, size, extra, add.FirstErrors)
	}
	// Checked before the kubelet's DEL of the failed pods: a refused ADD
	// must leave nothing on its own.
	took, dups, leaks := requireClean(t, c, pods, "pool full")
	res.ConvergeMs, res.Duplicates, res.Leaks = float64(took.Milliseconds()), dups, leaks

	// The kubelet DELs the failed sandboxes, and some live pods go away.
	var failed, gone []*podRun
	for _, p := range pods {
		if !p.live {
			failed = append(failed, p)
		} else if len(gone) < extra {
			gone = append(gone, p)
		}
	}
	del, err := delPods(c, append(failed, gone...))
	if err != nil {
		t.Fatal(err)
	}
	res.addPhase(del, false)
	if del.failed() > 0 {
		t.Errorf("%d of %d DELs failed: %v; first: %v", del.failed(), del.Ops, del.Errors, del.FirstErrors)
	}

	progressf("full-pool: %d new pods after %d deletes", extra, len(gone))
	more, err := createPods(ctx, c, "full-pool", "resume", "macvlan", extra)
	if err != nil {
		t.Fatal(err)
	}
	resume, err := addPods(c, more, sandboxPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	res.addPhase(resume, true)
	if resume.failed() > 0 {
		t.Errorf("after %d deletes, %d of %d ADDs still failed: %v; first: %v", len(gone), resume.failed(), resume.Ops, resume.Errors, resume.FirstErrors)
	}
	all := append(pods, more...)
	took, dups, leaks = requireClean(t, c, all, "allocation resumed")
	res.ConvergeMs = max(res.ConvergeMs, float64(took.Milliseconds()))
	res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks

	del, err = delPods(c, all)
	if err != nil {
		t.Fatal(err)
	}
	res.addPhase(del, false)
	took, dups, leaks = requireClean(t, c, all, "all deleted")
	res.ConvergeMs = max(res.ConvergeMs, float64(took.Milliseconds()))
	res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks

	lat := testenv.Latencies(append(add.Latencies, resume.Latencies...))
	res.AddsPerSecond = float64(len(add.Latencies)) / add.Wall.Seconds()
	res.AddP50Ms, res.AddP95Ms = lat.Percentile(0.50), lat.Percentile(0.95)
	res.DelP50Ms = testenv.Latencies(del.Latencies).Percentile(0.50)
	res.AgentPeakRSSMB = agentPeakRSS(c)
	saveResult(res)
}
