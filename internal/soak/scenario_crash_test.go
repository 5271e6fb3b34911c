package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Scenario 4: kill -9 of each plugin of the chain, and separately of the
// node agent, at random points of ADD. The kubelet's retry policy plays
// the runtime: its DEL of every failed sandbox, then a new sandbox. What
// the kills left is counted before that DEL, after it, after a CNI GC
// with the live pods as the valid attachments (as containerd 2 sends),
// and once the invariants hold; they must then hold exactly, and every pod
// get its network.
func TestCrashMidAddIsReclaimedByTheRuntimeOrGC(t *testing.T) {
	eachImplementation(t, func(t *testing.T, c *cluster) {
		ct, ok := c.impl.(crashable)
		if !ok {
			t.Fatalf("%s does not say how to crash it", c.impl.name())
		}
		kills := crashKills(c.scale)
		p := newPool("10.20.48.0/22", 1000)
		ensureNetwork(t, c, "crash", p)

		wraps := map[string]*crashWrap{}
		restore := func() {
			for _, w := range wraps {
				if err := w.remove(); err != nil {
					t.Error(err)
				}
			}
		}
		t.Cleanup(restore)
		for _, tg := range ct.crashTargets() {
			w, err := installCrashWrap(c, tg.binary)
			if w != nil {
				wraps[tg.binary] = w
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		durations := calibrateCrash(t, c, wraps)
		for _, tg := range ct.crashTargets() {
			t.Run(tg.role, func(t *testing.T) {
				w := wraps[tg.binary]
				delays := killDelays(durations[tg.binary], kills)
				// Half the kills get the runtime's DEL, half never do.
				withDel, withoutDel := delays[:(kills+1)/2], delays[(kills+1)/2:]
				w.reset()
				if err := w.arm(withDel); err != nil {
					t.Fatal(err)
				}
				run := newCrashRun(c, "crash/"+tg.role, tg.binary, p, ct)
				pods, add := untilKilled(t, c, w, tg.role, sandboxPolicy{retry: true, failed: run.observeFailed})
				if unused := w.disarm(); unused > 0 {
					t.Logf("%d of %d kills of %s found no ADD still running at their delay", unused, len(withDel), tg.binary)
				}
				killed, err := w.kills()
				if err != nil {
					t.Fatal(err)
				}
				run.reclaim(t, pods, add, killed)
				more, again := run.crashWithoutDel(t, w, tg.role, withoutDel)
				run.close(t, append(pods, more...), mergePhases([]*phase{add, again}))
			})
		}
		// The agent's restart reinstalls the binaries: the wraps go first.
		restore()
		t.Run("agent", func(t *testing.T) {
			ds := durations[ct.crashTargets()[0].binary]
			crashAgents(t, c, ct, p, kills, ds[len(ds)/2])
		})
	})
}

// untilKilled starts batches of new pods, two for each kill still armed
// (at least one a node), until every kill has landed or five batches have
// run: a kill whose ADD ended before its delay is given back, and the
// next ADD takes it.
func untilKilled(t *testing.T, c *cluster, w *crashWrap, prefix string, policy sandboxPolicy) ([]*podRun, *phase) {
	t.Helper()
	var pods []*podRun
	var phs []*phase
	for batch := 0; batch < 5 && w.armed() > 0; batch++ {
		ps, err := createPods(context.Background(), c, "crash", fmt.Sprintf("%s%d", prefix, batch), "macvlan", max(2*w.armed(), len(c.nodes)))
		if err != nil {
			t.Fatal(err)
		}
		ph, err := addPods(c, ps, policy)
		if err != nil {
			t.Fatal(err)
		}
		pods, phs = append(pods, ps...), append(phs, ph)
	}
	return pods, mergePhases(phs)
}

// crashKills is how many kills each binary gets: issue 10's 100 at full
// scale, 4 in `make test` (two with the runtime's DEL, two without: each
// kill costs a kubelet back-off, and CI runs every scenario on both
// implementations); SOAK_CRASH_KILLS overrides either.
func crashKills(sc scale) int {
	if v, err := strconv.Atoi(os.Getenv("SOAK_CRASH_KILLS")); err == nil && v > 0 {
		return v
	}
	if sc.Name == "full" {
		return 100
	}
	return 4
}

// calibrateCrash runs two pods a node through the wraps, with no kill,
// and returns each binary's ADD durations: the kills' delays are drawn
// within them.
func calibrateCrash(t *testing.T, c *cluster, wraps map[string]*crashWrap) map[string][]time.Duration {
	t.Helper()
	pods, err := createPods(context.Background(), c, "crash", "calibrate", "macvlan", 2*len(c.nodes))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := addPods(c, pods, sandboxPolicy{retry: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := delPods(c, pods); err != nil {
		t.Fatal(err)
	}
	requireClean(t, c, pods, "calibration")
	out := map[string][]time.Duration{}
	for name, w := range wraps {
		ds, err := w.addDurations()
		if err != nil {
			t.Fatal(err)
		}
		out[name] = ds
		progressf("crash: %s's ADDs took %s to %s (median %s); each kill lands at a random point of one of them",
			name, ds[0].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), ds[len(ds)/2].Round(time.Millisecond))
	}
	return out
}

// crashAgents kills -9 the agent of up to every node at a random point of
// a batch of ADDs (four pods a node), restarts it as the harness started
// it, and repeats until kills are done.
func crashAgents(t *testing.T, c *cluster, ct crashable, p pool, kills int, window time.Duration) {
	run := newCrashRun(c, "crash/agent", ct.agentName(), p, ct)
	// Whatever fails, the next scenarios find every agent running.
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if !ct.agentAlive(n) {
				if err := ct.restartAgent(c, n); err != nil {
					t.Error(err)
				}
			}
		}
	})
	var all []*podRun
	var adds []*phase
	done := 0
	for round := 0; done < kills; round++ {
		pods, err := createPods(context.Background(), c, "crash", fmt.Sprintf("agent%d", round), "macvlan", 4*len(c.nodes))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(c.nodes))
		for i, n := range c.nodes[:min(len(c.nodes), kills-done)] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(rand.Int64N(int64(window) + 1)))
				if errs[i] = ct.killAgent(n); errs[i] == nil {
					errs[i] = ct.restartAgent(c, n)
				}
			}()
			done++
		}
		add, err := addPods(c, pods, sandboxPolicy{retry: true, failed: run.observeFailed})
		wg.Wait()
		for _, e := range errs {
			if e != nil {
				t.Fatal(e)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		all, adds = append(all, pods...), append(adds, add)
	}
	run.kills = done
	add := mergePhases(adds)
	run.reclaim(t, all, add, nil)
	run.close(t, all, add)
}
