package e2enode

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// deathGrace is the reconciler's grace in the node-death scenario: longer
// than the dead node's pods are old when they are force-deleted, so the
// test sees the grace hold their addresses back.
const deathGrace = 45 * time.Second

// leaseTakeover bounds how long a live daemon takes to win the reconciler's
// Lease from a dead one: the daemon's 15 s lease, its 2 s retry, and room
// for a slow machine.
const leaseTakeover = 30 * time.Second

// TestNodeDeathReleasesAddressesAfterGrace is issue 8's scenario 5. The
// node whose daemon holds the reconciler's Lease runs three pods on the
// macvlan NAD, the other node two; the first loses power for good and
// its pods are force-deleted from the API (grace 0). The reconciler, now
// led by the live node's daemon, must free the dead pods' addresses once
// their records are older than the grace, never before, and leave the
// live pods' addresses and networks alone.
func TestNodeDeathReleasesAddressesAfterGrace(t *testing.T) {
	t.Setenv("REALNODE_NODES", "2") // one node dies, one keeps the reconciler
	c, workload := startCluster(t)
	if err := c.InstallChart(reconcilerValues(deathGrace)...); err != nil {
		t.Fatal(err)
	}
	leader := leaseHolder(t, c, "", 60*time.Second)
	dead := nodeNamed(t, c, leader)
	var live *realnode.Node
	for _, n := range c.Nodes {
		if n != dead {
			live = n
		}
	}
	cs := c.Clientset()
	ctx := context.Background()
	createMacvlanNAD(t, c, seedNAD, 100, 110)
	var deadPods, livePods []corev1.Pod
	for i, n := range []*realnode.Node{dead, dead, dead, live, live} {
		p := workloadPod(fmt.Sprintf("death-%d", i), workload, n.Name, seedNAD)
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range []*realnode.Node{dead, dead, dead, live, live} {
		p := waitPods(t, cs, map[string]string{"app": fmt.Sprintf("death-%d", i)}, 1, 120*time.Second)[0]
		if n == dead {
			deadPods = append(deadPods, p)
		} else {
			livePods = append(livePods, p)
		}
	}
	deadIPs := checkSeedPods(t, c, deadPods)
	liveIPs := checkSeedPods(t, c, livePods)
	if t.Failed() {
		return
	}
	allocated := map[string]time.Time{} // the dead pods' addresses and their records' times
	liveHeld := map[string]string{}
	for _, h := range holdings(t, c) {
		for _, a := range h.Addrs {
			if h.Node == dead.Name {
				allocated[a.Addr.String()] = h.Time
			} else {
				liveHeld[a.Addr.String()] = h.PodUID
			}
		}
	}
	if !equalSets(keys(allocated), deadIPs) || !equalSets(keys(liveHeld), liveIPs) {
		t.Fatalf("etcd-ipam holds %v on %s and %v elsewhere; the pods have %v and %v", keys(allocated), dead.Name, keys(liveHeld), deadIPs, liveIPs)
	}

	killed := time.Now()
	if err := c.PowerOff(dead); err != nil {
		t.Fatalf("power off %s: %v", dead.Name, err)
	}
	for _, p := range deadPods {
		if err := cs.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatalf("force-delete pod %s: %v", p.Name, err)
		}
	}
	forced := time.Now()
	var latest time.Time
	for ip, at := range allocated {
		if age := forced.Sub(at); age >= deathGrace {
			t.Logf("%s was %s old at the force-delete, past the grace: its not-before check says nothing (slow start)", ip, age.Round(time.Second))
		}
		if at.After(latest) {
			latest = at
		}
	}
	// Released once its record is past the grace, at the next pass of a
	// leader that may first have to take the Lease over.
	deadline := maxTime(latest.Add(deathGrace), killed.Add(leaseTakeover)).Add(leaseTakeover)
	released := map[string]time.Time{}
	for len(released) < len(allocated) {
		held := heldAddrs(holdings(t, c))
		now := time.Now()
		for ip, at := range allocated {
			if _, ok := released[ip]; ok || held[ip] != "" {
				continue
			}
			released[ip] = now
			if age := now.Sub(at); age < deathGrace {
				t.Errorf("%s released %s after it was allocated, before the grace %s", ip, age.Round(100*time.Millisecond), deathGrace)
			}
		}
		for ip, uid := range liveHeld {
			if held[ip] != uid {
				t.Fatalf("%s of a live pod (UID %s) is no longer held by it (now %q)", ip, uid, held[ip])
			}
		}
		if now.After(deadline) {
			t.Fatalf("the dead node's addresses %v are still held %s after the force-delete (grace %s; released so far %v)",
				minus(keys(allocated), keys(released)), now.Sub(forced).Round(time.Second), deathGrace, keys(released))
		}
		time.Sleep(250 * time.Millisecond)
	}
	for ip, at := range released {
		t.Logf("%s: allocated %s before the force-delete, released %s after it (%s after allocation; grace %s)",
			ip, forced.Sub(allocated[ip]).Round(100*time.Millisecond), at.Sub(forced).Round(100*time.Millisecond),
			at.Sub(allocated[ip]).Round(100*time.Millisecond), deathGrace)
	}
	// The release is the reconciler's, run by the live node's daemon: no
	// DEL can come from a dead node. Its log line may trail the release.
	for logged := time.Now().Add(10 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		by := reconcilerReleases(t, c)
		var missing []string
		for ip := range allocated {
			if by[ip] != live.Name {
				missing = append(missing, fmt.Sprintf("%s (logged by %q)", ip, by[ip]))
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(logged) {
			t.Fatalf("no release by the reconciler on %s in its daemon's log for %v", live.Name, missing)
		}
	}
	if h := leaseHolder(t, c, dead.Name, time.Second); h != live.Name {
		t.Errorf("reconciler Lease held by %q after the release, want the live node %s", h, live.Name)
	}
	t.Logf("the Lease moved from %s (dead) to %s", dead.Name, live.Name)
	if got := checkSeedPods(t, c, livePods); !equalSets(got, liveIPs) {
		t.Errorf("the live pods' macvlan addresses changed from %v to %v", liveIPs, got)
	}
	waitNodeNotReady(t, c, dead.Name, killed, 90*time.Second)
}

// waitNodeNotReady waits until the node controller has marked a node that
// lost power not Ready (its kubelet no longer posts status; 50 s by
// default in 1.34), and checks that its Node object stays.
func waitNodeNotReady(t *testing.T, c *realnode.Cluster, name string, killed time.Time, timeout time.Duration) {
	t.Helper()
	deadline := killed.Add(timeout)
	for {
		n, err := c.Clientset().CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Node %s after its power-off: %v (a dead node's object stays)", name, err)
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionTrue {
				t.Logf("Node %s Ready=%s (%s) %s after its power-off", name, cond.Status, cond.Reason, time.Since(killed).Round(time.Second))
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Node %s still Ready %s after its power-off: its kubelet still posts status", name, timeout)
		}
		time.Sleep(time.Second)
	}
}

// leaseHolder waits until the reconciler's Lease is held by a daemon other
// than not ("" for any) and returns its identity, the node's name.
func leaseHolder(t *testing.T, c *realnode.Cluster, not string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		l, err := c.Clientset().CoordinationV1().Leases(realnode.ChartNamespace).Get(context.Background(), "meta-cni-ipam-reconciler", metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil {
			last = *l.Spec.HolderIdentity
			if last != "" && last != not {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Lease %s/meta-cni-ipam-reconciler: holder %q after %s, want one other than %q (%v)", realnode.ChartNamespace, last, timeout, not, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
