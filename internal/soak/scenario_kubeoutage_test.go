package soak

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// Scenario 3: the kube-apiserver is stopped mid-churn (15 s in make test,
// the 30 s under SOAK=full) and started again on the same address
// and data; no daemon or kubeconfig is restarted. While it is down, ADDs
// fail fast with code 11 and leave nothing behind, and DELs of running
// pods succeed from the attachment record. Once it is back, the daemons'
// queued network-status patches land (every live pod's annotation is its
// netns), the invariants hold, and the kubelet's retries bring every pod
// up.
func TestLostAPIServerFailsADDsFastAndDELsFromTheRecord(t *testing.T) {
	eachImplementation(t, func(t *testing.T, c *cluster) {
		ctx := context.Background()
		ensureNetwork(t, c, "kube-outage", newPool("10.21.16.0/20", 4093))
		n, down := faultPods(c), faultDowntime(c, 15*time.Second, 30*time.Second)
		res := newResult(c, "kube-outage", n, 1, 4093)

		// Pods running before the outage, whose DELs run during it.
		running, err := createPods(ctx, c, "kube-outage", "running", "macvlan", max(n/4, len(c.nodes)))
		t.Cleanup(func() { removeAfterFailure(t, c, running) })
		if err != nil {
			t.Fatal(err)
		}
		pre, err := addPods(c, running, sandboxPolicy{retry: true})
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(pre, true)
		if k := notLive(running); k > 0 {
			t.Fatalf("before the outage, %d of %d pods got no network: %v; first: %v", k, len(running), pre.Errors, pre.FirstErrors)
		}

		pods, err := createPods(ctx, c, "kube-outage", "churn", "macvlan", n)
		t.Cleanup(func() { removeAfterFailure(t, c, pods) })
		if err != nil {
			t.Fatal(err)
		}
		stopped := false
		t.Cleanup(func() {
			if stopped {
				if err := c.kube.Start(); err != nil {
					t.Errorf("cleanup: start the API server again: %v", err)
				}
			}
		})
		progressf("kube-outage: %d pods; the API server stopped for %s mid-churn, %d running pods DELeted meanwhile", n, down, len(running))
		w := newFaultWindow(n / 4)
		var outageDels *phase
		// A failed ADD during the outage is left as the plugin left it, to
		// prove it left nothing; the kubelet's retry comes after the check.
		policy := sandboxPolicy{retry: true, keep: func(error) bool { return w.during() }}
		add, err := churnWithFault(c, pods, policy, w, fault{
			inject: func() error { c.kube.StopAPIServer(); stopped = true; return nil },
			during: func() (err error) {
				outageDels, err = delSandboxes(c, running, w.observeDel, false)
				return err
			},
			restore: func() error {
				err := c.kube.Start()
				stopped = err != nil
				return err
			},
			down: down,
		})
		if add != nil {
			res.addPhase(add, true)
		}
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(outageDels, false)
		w.fill(&res)
		report := c.expect(t)
		for code, k := range res.FaultAdds {
			if code != "ok" && code != "11" {
				report("API server down: %d ADDs failed with code %s, not 11; by message %v", k, code, add.Messages)
			}
		}
		if k := len(running) - notLive(running); k > 0 {
			report("API server down: %d of %d DELs of running pods failed: %v; first: %v", k, len(running), outageDels.Errors, outageDels.FirstErrors)
		}
		all := append(append([]*podRun{}, running...), pods...)
		// The failed sandboxes must be empty and unrecorded, and the
		// patches queued during the outage must have landed.
		took, dups, leaks := requireClean(t, c, all, "API server back, failed sandboxes as the plugin left them")
		res.Duplicates, res.Leaks, res.ConvergeMs = dups, leaks, float64(took.Milliseconds())

		var failed []*podRun
		for _, p := range pods {
			if !p.live {
				failed = append(failed, p)
			}
		}
		progressf("kube-outage: API server back; the kubelets retry %d failed sandboxes", len(failed))
		cleanup, err := delSandboxes(c, failed, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(cleanup, false)
		for _, p := range failed {
			p.baseID += "o" // a sandbox ID of its own for every retry
			p.newSandboxID(0)
		}
		retry, err := addPods(c, failed, sandboxPolicy{retry: true})
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(retry, true)
		if k := notLive(pods); k > 0 {
			report("API server back: %d of %d pods still without a network after up to %d more sandboxes each: %v; by message %v",
				k, len(pods), maxSandboxAttempts, retry.Errors, retry.Messages)
		}
		took, dups, leaks = requireClean(t, c, all, "API server back, failed pods retried")
		res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks
		res.ConvergeMs = max(res.ConvergeMs, float64(took.Milliseconds()))

		del, err := delPods(c, all)
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(del, false)
		took, dups, leaks = requireClean(t, c, all, "all deleted")
		res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks
		res.ConvergeMs = max(res.ConvergeMs, float64(took.Milliseconds()))

		res.setLatencies(add, del, retry)
		res.AgentPeakRSSMB = agentPeakRSS(c)
		t.Logf("kube-outage: down %.1fs; ADDs during it %v, failed p50 %.0f ms p95 %.0f ms; DELs during it %v; errors %v; converged within %.1fs",
			res.FaultMs/1000, res.FaultAdds, res.FaultFailP50Ms, res.FaultFailP95Ms, res.FaultDels, res.Errors, res.ConvergeMs/1000)
		saveResult(res)
	})
}

// delSandboxes is the runtime's DEL of each pod's sandbox (StopPodSandbox;
// the pod objects stay), once, or again after a failure when again is
// set: a DEL that succeeds removes the netns.
func delSandboxes(c *cluster, pods []*podRun, observe func(error), again bool) (*phase, error) {
	lists, err := runtimeLists(c)
	if err != nil {
		return nil, err
	}
	ph, mu := newPhase(), &sync.Mutex{}
	ph.Wall = eachOnNode(pods, func(p *podRun) {
		var err error
		if again {
			err = p.delFailedSandbox(lists[p.node.name])
		} else {
			err = p.cniDel(lists[p.node.name])
		}
		ph.record(mu, p.lastCall, err)
		if observe != nil {
			observe(err)
		}
		if err != nil {
			return
		}
		p.live = false
		if p.netns != nil {
			testenv.RemoveNS(p.netns)
			p.netns = nil
		}
	})
	return ph, nil
}
