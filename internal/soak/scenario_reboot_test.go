package soak

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// Scenario 5: a node with running pods loses power, so none of them gets a
// DEL; it boots again, its agent reinstalls, the kubelet recreates every pod
// in a new sandbox, and the runtime sends a CNI GC naming the new sandboxes
// as the valid attachments (containerd 2 does at start). The old
// sandboxes' addresses must be released by that GC, the recreated pods
// must have their networks, no address may be held twice, and nothing of
// the old sandboxes may be left.
func TestNodeRebootWithoutDelReleasesTheOldSandboxesByGC(t *testing.T) {
	eachImplementation(t, func(t *testing.T, c *cluster) {
		ctx := context.Background()
		n := c.nodes[len(c.nodes)-1]
		count := podsPerNode(c.scale)
		p := newPool("10.20.40.0/22", 4*count)
		ensureNetwork(t, c, "reboot", p)
		res := newResult(c, "node-reboot", count, 1, p.size())

		progressf("node-reboot: %d pods on %s", count, n.name)
		pods, err := createPodsOn(ctx, c, []*node{n}, "reboot", "pod", "macvlan", count)
		if err != nil {
			t.Fatal(err)
		}
		deleted := false
		t.Cleanup(func() {
			if !deleted {
				_, _ = delPods(c, pods)
			}
		})
		before, err := addPods(c, pods, sandboxPolicy{retry: true})
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(before, true)
		if n := notLive(pods); n > 0 {
			t.Fatalf("before the reboot: %d of %d pods without a network; errors %v, first %v", n, len(pods), before.Errors, before.FirstErrors)
		}
		requireClean(t, c, pods, "before the reboot")
		h, err := readHoldings(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		oldAddrs := map[string]netip.Addr{} // the dead sandboxes' addresses
		for _, p := range pods {
			oldAddrs[p.rt.ContainerID] = h.byContainer[p.rt.ContainerID]
		}

		progressf("node-reboot: power off %s", n.name)
		rebootOnCleanup(t, c, n)
		if err := powerOff(c, n, pods); err != nil {
			t.Fatal(err)
		}
		ready, err := boot(c, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			p.newSandbox()
		}
		recreate, err := addPods(c, pods, sandboxPolicy{retry: true})
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(recreate, true)
		if n := notLive(pods); n > 0 {
			c.expect(t)("after the reboot: %d of %d pods without a network; errors %v, first %v", n, len(pods), recreate.Errors, recreate.FirstErrors)
		}

		// Before the GC the old sandboxes still hold their addresses: no DEL
		// released them, so a recreated pod must have got another one.
		// (Whereabouts hands a pod's new sandbox its old address, by pod.)
		h, err = readHoldings(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		stillHeld, reused := 0, 0
		for id, a := range oldAddrs {
			if holder, ok := h.byAddr[a]; ok {
				if holder == id {
					stillHeld++
				} else {
					reused++
				}
			}
		}
		if reused > 0 {
			c.expect(t)("after the reboot, before any DEL or GC: %d addresses of dead sandboxes were released and given to recreated pods", reused)
		}

		start := time.Now()
		gcErr := runtimeGC(n, pods, "")
		gcTook := time.Since(start)
		if gcErr != nil {
			res.Errors[cniCode(gcErr)]++
			res.Messages["GC: "+errorKind(gcErr)]++
			c.expect(t)("the runtime's GC after the reboot: %v", gcErr)
		}
		h, err = readHoldings(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		leftByGC := 0
		for id, a := range oldAddrs {
			if h.byAddr[a] == id {
				leftByGC++
			}
		}
		res.DeadSandboxes = map[string]int{"gc": stillHeld - leftByGC, "takenOver": reused, "left": leftByGC}
		took, dups, leaks := requireClean(t, c, pods, "after the reboot's GC")
		res.Duplicates, res.Leaks = dups, leaks
		res.ConvergeMs = float64((gcTook + took).Milliseconds())
		t.Logf("node-reboot: agent ready %s after boot; %d of %d old sandboxes' addresses still held after the recreation, %d taken over by a new sandbox; "+
			"GC took %s and left %d; clean %s after the GC began",
			ready.Round(time.Millisecond), stillHeld, len(oldAddrs), reused, gcTook.Round(time.Millisecond), leftByGC, (gcTook + took).Round(time.Millisecond))

		del, err := delPods(c, pods)
		if err != nil {
			t.Fatal(err)
		}
		deleted = true
		res.addPhase(del, false)
		_, dups, leaks = requireClean(t, c, pods, "all deleted")
		res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks

		res.setLatencies(recreate, del)
		res.AgentPeakRSSMB = agentPeakRSS(c)
		saveResult(res)
	})
}

// podsPerNode is how many pods one node runs at the scale: issue 10's 100
// at full scale.
func podsPerNode(sc scale) int { return max(sc.Pods/sc.Nodes, 1) }

// holdings is who holds which macvlan address in the IPAM's store.
type holdings struct {
	byContainer map[string]netip.Addr
	byAddr      map[netip.Addr]string // address -> container ID
}

func readHoldings(ctx context.Context, c *cluster) (holdings, error) {
	allocs, _, err := c.impl.allocations(ctx, c)
	if err != nil {
		return holdings{}, err
	}
	h := holdings{byContainer: map[string]netip.Addr{}, byAddr: map[netip.Addr]string{}}
	for _, a := range allocs {
		if a.IfName == macvlanIf {
			h.byContainer[a.ContainerID], h.byAddr[a.Addr] = a.Addr, a.ContainerID
		}
	}
	return h, nil
}
