package soak

import (
	"context"
	"testing"
)

// Scenario 7: more pods than the pool has addresses. The pool fills, every
// ADD past it fails with the IPAM's "pool full" code (etcd-ipam's 100) and leaves its pod's netns
// empty and nothing on its node or in the store; once pods are deleted,
// new pods get addresses again.
func TestFullPoolRefusesWithCode100AndResumesAfterDeletes(t *testing.T) {
	eachImplementation(t, func(t *testing.T, c *cluster) {
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
		// A full pool's refusal is left as the plugin left it, for the
		// check below; any other failure is retried as the kubelet would.
		add, err := addPods(c, pods, sandboxPolicy{retry: true, keep: c.impl.poolFull})
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(add, true)
		// A pod's last ADD is what counts: one that failed otherwise (code
		// 11 on an overloaded machine) was torn down and tried again.
		code := c.impl.poolFullCode()
		refused := 0
		for _, p := range pods {
			if !p.live && c.impl.poolFull(p.lastErr) && (code == "" || cniCode(p.lastErr) == code) {
				refused++
			}
		}
		if live := len(pods) - notLive(pods); live != size || refused != extra {
			c.expect(t)("%d pods for a pool of %d: %d got an address, %d were refused with code %q; want %d and %d; ADD errors by code %v, first: %v",
				len(pods), size, live, refused, code, size, extra, add.Errors, add.FirstErrors)
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
		if n := len(failed) + len(gone) - notLive(append(failed, gone...)); n > 0 {
			c.expect(t)("%d pods still attached after up to %d DELs each: %v; first: %v", n, maxSandboxAttempts, del.Errors, del.FirstErrors)
		}

		progressf("full-pool: %d new pods after %d deletes", extra, len(gone))
		more, err := createPods(ctx, c, "full-pool", "resume", "macvlan", extra)
		if err != nil {
			t.Fatal(err)
		}
		resume, err := addPods(c, more, sandboxPolicy{retry: true})
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(resume, true)
		if n := notLive(more); n > 0 {
			c.expect(t)("after %d deletes, %d of %d new pods got no address: %v; first: %v", len(gone), n, len(more), resume.Errors, resume.FirstErrors)
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

		res.setLatencies(add, del, resume)
		res.AgentPeakRSSMB = agentPeakRSS(c)
		saveResult(res)
	})
}
