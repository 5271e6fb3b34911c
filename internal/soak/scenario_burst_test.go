package soak

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Scenario 6: a node boots with all of its pods to start, and the kubelet
// starts every pod worker at once (no cap of 8: after a reboot each pod's
// worker syncs on its own). The node agent's peak RSS over its life since
// the boot, the install included, must stay under the memory limit the
// chart gives it; the node's ADD p50/p95 are measured beside it. Multus
// thick's OOM under this burst is its most reported failure (#1346, #1144);
// the reference here is Multus thin, whose agent is ip-control-loop.
func TestBurstAfterRebootKeepsTheDaemonUnderItsChartMemoryLimit(t *testing.T) {
	eachImplementation(t, func(t *testing.T, c *cluster) {
		ctx := context.Background()
		n := c.nodes[0]
		size := burstSize(c.scale)
		p := newPool("10.20.52.0/22", 2*size)
		ensureNetwork(t, c, "burst", p)
		res := newResult(c, "burst-after-reboot", size, 1, p.size())

		pods, err := createPodsOn(ctx, c, []*node{n}, "burst", "pod", "macvlan", size)
		if err != nil {
			t.Fatal(err)
		}
		deleted := false
		t.Cleanup(func() {
			if !deleted {
				_, _ = delPods(c, pods)
			}
		})

		progressf("burst-after-reboot: %s reboots, then starts %d pods at once", n.name, size)
		rebootOnCleanup(t, c, n)
		if err := powerOff(c, n, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := boot(c, n); err != nil {
			t.Fatal(err)
		}
		capped := n.kubelet
		n.kubelet = make(chan struct{}, size)
		defer func() { n.kubelet = capped }()
		add, err := addPods(c, pods, sandboxPolicy{retry: true})
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(add, true)
		peak := 0.0
		if pid := c.impl.agentPID(n); pid > 0 {
			peak = float64(vmHWM(pid)) / 1024
		}
		res.AgentPeakRSSMB = peak
		idle := 0.0 // the agents of the nodes the burst did not hit
		for _, m := range c.nodes {
			if pid := c.impl.agentPID(m); m != n && pid > 0 {
				idle = max(idle, float64(vmHWM(pid))/1024)
			}
		}
		if pid := c.impl.agentPID(n); pid > 0 {
			t.Logf("burst-after-reboot: the burst node's agent peaked at %.1f MiB, the other nodes' at most %.1f MiB; after the burst it has %d kB anonymous and %d kB file-backed (its binary) resident",
				peak, idle, procStatusKB(pid, "RssAnon"), procStatusKB(pid, "RssFile"))
		}
		if c.impl.underTest() {
			t.Logf("burst-after-reboot: meta-cni-daemon's Go runtime after the burst: %s", goRuntimeFigures(n))
		}
		if n := notLive(pods); n > 0 || add.failed() > add.Errors["11"] {
			c.expect(t)("%d of %d pods without a network after up to %d sandboxes each; ADD errors by code %v; by message %v",
				n, len(pods), maxSandboxAttempts, add.Errors, add.Messages)
		}
		if c.impl.underTest() {
			limit := chartMemoryLimitMiB(t, c, n)
			if peak == 0 || peak >= limit {
				t.Errorf("meta-cni-daemon's peak RSS after a burst of %d ADDs is %.1f MiB; the chart's resources.limits.memory is %.0f MiB", size, peak, limit)
			}
			t.Logf("burst-after-reboot: meta-cni-daemon peak RSS %.1f MiB, chart limit %.0f MiB", peak, limit)
		}
		took, dups, leaks := requireClean(t, c, pods, "after the burst")
		res.ConvergeMs, res.Duplicates, res.Leaks = float64(took.Milliseconds()), dups, leaks

		del, err := delPods(c, pods)
		if err != nil {
			t.Fatal(err)
		}
		deleted = true
		res.addPhase(del, false)
		_, dups, leaks = requireClean(t, c, pods, "all deleted")
		res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks

		res.setLatencies(add, del)
		t.Logf("burst-after-reboot: %d ADDs at once on %s in %s, p50 %.0f ms p95 %.0f ms, %d retries, agent peak RSS %.1f MiB",
			size, n.name, add.Wall, res.AddP50Ms, res.AddP95Ms, res.Retries, peak)
		saveResult(res)
	})
}

// burstSize is how many pods start at once on the node: issue 10's 100 at
// full scale, 30 at the scaled one (100 at once took 94 s on the shared
// two-core machine, retries of code 11 included); SOAK_BURST overrides
// either, to see how the agent's memory grows with the burst.
func burstSize(sc scale) int {
	if v, err := strconv.Atoi(os.Getenv("SOAK_BURST")); err == nil && v > 0 {
		return v
	}
	if sc.Name == "full" {
		return 100
	}
	return 30
}

// goRuntimeFigures reads meta-cni-daemon's heap and goroutines from its
// /metrics (the chart's metrics.port, inside the node's netns), to tell a
// burst's garbage from memory it keeps.
func goRuntimeFigures(n *node) string {
	out, err := exec.Command("nsenter", "--net="+n.netns().Path(), "curl", "-sS", "--max-time", "10", "http://127.0.0.1:9091/metrics").Output()
	if err != nil {
		return "unread: " + err.Error()
	}
	var figures []string
	for _, line := range strings.Split(string(out), "\n") {
		for _, series := range []string{"go_goroutines ", "go_memstats_heap_inuse_bytes ", "go_memstats_heap_sys_bytes ", "go_memstats_sys_bytes "} {
			if strings.HasPrefix(line, series) {
				figures = append(figures, strings.TrimSpace(line))
			}
		}
	}
	return strings.Join(figures, ", ")
}

// chartMemoryLimitMiB is resources.limits.memory of the DaemonSet's
// container, from the chart rendered for n.
func chartMemoryLimitMiB(t *testing.T, c *cluster, n *node) float64 {
	t.Helper()
	ch, err := renderChart(n.root, c.etcd.Endpoints())
	if err != nil {
		t.Fatal(err)
	}
	limit, err := memoryLimitMiB(ch)
	if err != nil {
		t.Fatal(err)
	}
	return limit
}

func memoryLimitMiB(ch *chart) (float64, error) {
	ctrs := ch.daemonSet.Spec.Template.Spec.Containers
	if len(ctrs) != 1 {
		return 0, fmt.Errorf("rendered DaemonSet has %d containers, want 1", len(ctrs))
	}
	q, ok := ctrs[0].Resources.Limits[corev1.ResourceMemory]
	if !ok {
		return 0, fmt.Errorf("rendered DaemonSet's container %s has no resources.limits.memory", ctrs[0].Name)
	}
	return float64(q.Value()) / (1 << 20), nil
}

// procStatusKB reads a kB field of a process's /proc status (RssAnon,
// RssFile...); 0 when unread.
func procStatusKB(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}
