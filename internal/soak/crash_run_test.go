package soak

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/pkg/routing"
)

// crashRun is one kill phase of the crash scenario: what each failed
// sandbox held as the plugin left it, then the reclaiming steps.
type crashRun struct {
	c     *cluster
	ct    crashable
	res   Result
	kills int // the agent's; a plugin's are read from its wrap

	mu         sync.Mutex
	left       map[string][]string // container ID -> what its failed ADD left
	codes      map[string]string   // container ID -> its failed ADD's CNI code
	observeErr error
}

func newCrashRun(c *cluster, scenario, killed string, p pool, ct crashable) *crashRun {
	res := newResult(c, scenario, 0, 1, p.size())
	res.Killed, res.GCNote, res.KilledAddErrors = killed, ct.gcNote(), map[string]int{}
	return &crashRun{c: c, ct: ct, res: res, left: map[string][]string{}, codes: map[string]string{}}
}

// observeFailed is the sandbox policy's look at a failed sandbox before
// the runtime's DEL.
func (r *crashRun) observeFailed(p *podRun, err error) {
	items, oerr := leftoversOf(r.c, p)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.left[p.rt.ContainerID] = items
	r.codes[p.rt.ContainerID] = cniCode(err)
	if oerr != nil && r.observeErr == nil {
		r.observeErr = oerr
	}
}

// reclaim counts what the kills left, runs the reclaiming steps in the
// runtime's order, and requires the invariants to hold and every pod to
// have its network. killed names the
// container IDs of the killed ADDs; nil counts every failed ADD (the
// agent's kills fail ADDs of any container).
func (r *crashRun) reclaim(t *testing.T, pods []*podRun, add *phase, killed map[string]time.Duration) {
	t.Helper()
	c, res := r.c, &r.res
	res.addPhase(add, true)
	if r.observeErr != nil {
		t.Errorf("observe a failed sandbox: %v", r.observeErr)
	}
	kinds := map[string]int{}
	for id, code := range r.codes {
		if _, ok := killed[id]; killed != nil && !ok {
			continue
		}
		res.KilledAddErrors[code]++
		res.LeftAfterKill += len(r.left[id])
		for _, item := range r.left[id] {
			kind, _, _ := strings.Cut(item, ":")
			kinds[kind]++
		}
	}
	res.Kills = r.kills
	if killed != nil {
		res.Kills = len(killed)
		for id := range killed {
			if _, ok := r.codes[id]; !ok {
				c.expect(t)("%s was killed in the ADD of container %s, and that ADD succeeded", res.Killed, id)
			}
		}
	}

	ctx := context.Background()
	start := time.Now()
	afterDel, err := checkInvariants(ctx, c, pods)
	if err != nil {
		t.Fatal(err)
	}
	res.LeftAfterDel = len(afterDel)
	for _, v := range afterDel[:min(len(afterDel), 10)] {
		t.Logf("after the runtime's DELs: %s", v)
	}
	if err := clusterGC(c, pods); err != nil {
		c.expect(t)("CNI GC with the live pods as valid attachments: %v", err)
	}
	afterGC, err := checkInvariants(ctx, c, pods)
	if err != nil {
		t.Fatal(err)
	}
	res.LeftAfterGC = len(afterGC)
	_, dups, leaks := requireClean(t, c, pods, "after the kills, the runtime's DELs and CNI GC")
	res.ConvergeMs = float64(time.Since(start).Milliseconds())
	res.LeftAfterConverge = dups + leaks
	res.Duplicates, res.Leaks = dups, leaks
	if n := notLive(pods); n > 0 {
		c.expect(t)("%d of %d pods without a network after up to %d sandboxes each; ADD errors by code %v; by message %v",
			n, len(pods), maxSandboxAttempts, add.Errors, add.Messages)
	}

	t.Logf("%s: %s killed %d times; killed ADDs' codes %v; they left %d things (%v), %d after the runtime's DELs, %d after CNI GC, %d once converged in %.1fs",
		res.Scenario, res.Killed, res.Kills, res.KilledAddErrors, res.LeftAfterKill, kinds, res.LeftAfterDel, res.LeftAfterGC,
		res.LeftAfterConverge, res.ConvergeMs/1000)
}

// close deletes the pods of every batch, requires the invariants once
// more, and saves the result with add's latencies.
func (r *crashRun) close(t *testing.T, pods []*podRun, add *phase) {
	t.Helper()
	c, res := r.c, &r.res
	res.Pods = len(pods)
	del, err := delPods(c, pods)
	if err != nil {
		t.Fatal(err)
	}
	res.addPhase(del, false)
	_, dups, leaks := requireClean(t, c, pods, "after the pods' deletion")
	res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks

	res.setLatencies(add, del)
	res.AgentPeakRSSMB = agentPeakRSS(c)
	t.Logf("%s: %d pods, retries %d, errors %v", res.Scenario, len(pods), res.Retries, res.Errors)
	saveResult(*res)
}

// leftoversOf lists what a failed sandbox holds: its store allocations,
// the interfaces in its netns, and on its node the host veth, routes and
// nftables table host-route names after it, its cluster network lease and
// the implementation's records of it. Each item is "kind: detail".
func leftoversOf(c *cluster, p *podRun) ([]string, error) {
	id := p.rt.ContainerID
	var out []string
	allocs, _, err := c.impl.allocations(context.Background(), c)
	if err != nil {
		return nil, err
	}
	for _, a := range allocs {
		if a.ContainerID == id {
			out = append(out, "allocation: "+a.Addr.String())
		}
	}
	st, err := observePod(context.Background(), c, p, false)
	if err != nil {
		return nil, err
	}
	for _, l := range st.links {
		out = append(out, "pod interface: "+l)
	}
	hs, err := observeHost(p.node)
	if err != nil {
		return nil, err
	}
	veth := routing.HostVethName(id, macvlanIf)
	if slices.Contains(hs.hostVeths, veth) {
		out = append(out, "host veth: "+veth)
	}
	for _, rt := range hs.routes {
		if rt.Link == veth {
			out = append(out, "host route: "+rt.Dst.String())
		}
	}
	if table := routing.TableName(id, macvlanIf); slices.Contains(hs.tables, table) {
		out = append(out, "nftables table: "+table)
	}
	for ip, holder := range hs.clusterIPs {
		if holder == id {
			out = append(out, "cluster network lease: "+ip)
		}
	}
	recs, err := c.impl.nodeRecords(p.node)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if rec.ContainerID == id {
			out = append(out, rec.Kind+": "+rec.Path)
		}
	}
	sort.Strings(out)
	return out, nil
}
