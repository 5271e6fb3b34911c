package soak

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/meta-cni/meta-cni/pkg/routing"
)

// violationKind names which invariant of issue 10 a finding breaks.
type violationKind string

const (
	duplicateAddress  violationKind = "duplicate address"
	leakedAllocation  violationKind = "leaked allocation"
	missingAllocation violationKind = "missing allocation"
	storeMismatch     violationKind = "store mismatch"
	leakedLink        violationKind = "leaked link"
	leakedRoute       violationKind = "leaked host route"
	leakedTable       violationKind = "leaked nftables table"
	leakedRecord      violationKind = "leaked record"
	halfConfigured    violationKind = "half-configured pod"
	orphanAttachment  violationKind = "attachment of a deleted pod"
	statusMismatch    violationKind = "network-status mismatch"
)

// violation is one broken invariant, with what shows it.
type violation struct {
	Kind   violationKind
	Detail string
}

func (v violation) String() string { return string(v.Kind) + ": " + v.Detail }

// macvlanIf is the interface the NAD's network gets in every pod.
const macvlanIf = "net1"

// checkInvariants observes the whole cluster and returns every broken
// invariant: no address held twice (in the IPAM store and in the pods'
// netns), the store's allocations exactly the live attachments, no node
// state (links, host routes, ip rules, nftables tables, records, journal
// entries, cluster-network leases) of a pod that is not live, no failed pod left
// with an interface, and every live pod's network-status its netns.
func checkInvariants(ctx context.Context, c *cluster, pods []*podRun) ([]violation, error) {
	var out []violation
	add := func(k violationKind, format string, args ...any) {
		out = append(out, violation{Kind: k, Detail: fmt.Sprintf(format, args...)})
	}
	allocs, faults, err := c.impl.allocations(ctx, c)
	if err != nil {
		return nil, err
	}
	out = append(out, faults...)

	live := map[string]*podRun{} // container ID -> pod
	liveByNode := map[string][]*podRun{}
	livePods := map[string]bool{}
	for _, p := range pods {
		if p.live {
			live[p.rt.ContainerID] = p
			liveByNode[p.node.name] = append(liveByNode[p.node.name], p)
			livePods[p.key()] = true
		}
	}

	// The store against the live attachments, both ways.
	stored := map[string][]netip.Addr{} // container ID -> addresses of net1
	holder := map[netip.Addr]string{}
	for _, a := range allocs {
		if other, ok := holder[a.Addr]; ok && other != a.ContainerID {
			add(duplicateAddress, "store: %s held by containers %s and %s", a.Addr, other, a.ContainerID)
		}
		holder[a.Addr] = a.ContainerID
		if p, ok := live[a.ContainerID]; !ok || a.IfName != macvlanIf {
			add(leakedAllocation, "store: %s held by %s %s (pod %s), no live attachment", a.Addr, a.ContainerID, a.IfName, a.Pod)
		} else if p.key() != a.Pod {
			add(storeMismatch, "store: %s recorded for pod %s, held by container %s of pod %s", a.Addr, a.Pod, a.ContainerID, p.key())
		}
		stored[a.ContainerID] = append(stored[a.ContainerID], a.Addr)
	}

	// Every pod's netns: live ones against the store and each other,
	// failed ones empty.
	inNetns := map[netip.Addr]string{}
	for _, p := range pods {
		if p.netns == nil {
			continue
		}
		st, err := observePod(ctx, c, p, p.live)
		if err != nil {
			return nil, err
		}
		rules, err := extraRules(p.netns)
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", p.key(), err)
		}
		for _, r := range rules {
			add(leakedRule, "pod %s: %s belongs to no attachment", p.key(), r)
		}
		if !p.live {
			if len(st.links) > 0 {
				add(halfConfigured, "pod %s failed its ADD but its netns has %v", p.key(), st.links)
			}
			continue
		}
		for _, addrs := range st.addrs {
			for _, a := range addrs {
				if other, ok := inNetns[a]; ok {
					add(duplicateAddress, "netns: %s on pod %s and pod %s", a, other, p.key())
				}
				inNetns[a] = p.key()
			}
		}
		if !sameAddrs(st.addrs[macvlanIf], stored[p.rt.ContainerID]) {
			if len(stored[p.rt.ContainerID]) == 0 {
				add(missingAllocation, "pod %s has %v on %s, the store holds nothing for it", p.key(), st.addrs[macvlanIf], macvlanIf)
			} else {
				add(storeMismatch, "pod %s has %v on %s, the store %v", p.key(), st.addrs[macvlanIf], macvlanIf, stored[p.rt.ContainerID])
			}
		}
		if st.deleted {
			add(orphanAttachment, "pod %s was deleted, its sandbox still has %v", p.key(), st.links)
			continue
		}
		if !st.hasStatus {
			add(statusMismatch, "pod %s has no network-status", p.key())
		}
		for _, ifName := range []string{"eth0", macvlanIf} {
			if st.hasStatus && !sameAddrs(st.status[ifName], st.addrs[ifName]) {
				add(statusMismatch, "pod %s: network-status says %v on %s, its netns has %v", p.key(), st.status[ifName], ifName, st.addrs[ifName])
			}
		}
	}

	// Every node's state belongs to its live pods.
	for _, n := range c.nodes {
		hs, err := observeHost(n)
		if err != nil {
			return nil, err
		}
		rules, err := extraRules(n.netns())
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.name, err)
		}
		for _, r := range rules {
			add(leakedRule, "node %s: %s belongs to no attachment", n.name, r)
		}
		wantVeth, wantTable, wantRoute := map[string]bool{}, map[string]bool{}, map[hostRoute]bool{}
		for _, p := range liveByNode[n.name] {
			veth := routing.HostVethName(p.rt.ContainerID, macvlanIf)
			wantVeth[veth] = true
			wantTable[routing.TableName(p.rt.ContainerID, macvlanIf)] = true
			for _, a := range stored[p.rt.ContainerID] {
				wantRoute[hostRoute{Dst: netip.PrefixFrom(a, a.BitLen()), Link: veth}] = true
			}
		}
		for _, v := range hs.hostVeths {
			if !wantVeth[v] {
				add(leakedLink, "node %s: veth %s belongs to no live pod", n.name, v)
			}
		}
		for _, l := range hs.otherLinks {
			add(leakedLink, "node %s: link %s belongs to no live pod", n.name, l)
		}
		if want := len(liveByNode[n.name]); hs.bridgePorts != want {
			add(leakedLink, "node %s: %d veths on cni0 for %d live pods", n.name, hs.bridgePorts, want)
		}
		for _, r := range hs.routes {
			if !wantRoute[r] {
				add(leakedRoute, "node %s: route %s dev %s belongs to no live pod", n.name, r.Dst, r.Link)
			}
		}
		for _, t := range hs.tables {
			if strings.HasPrefix(t, "meta_cni_hr_") && !wantTable[t] {
				add(leakedTable, "node %s: nftables table inet %s belongs to no live pod", n.name, t)
			}
		}
		for ip, id := range hs.clusterIPs {
			if p, ok := live[id]; !ok || p.node != n {
				add(leakedRecord, "node %s: cluster network lease of %s names container %s, no live pod", n.name, ip, id)
			}
		}
		recs, err := c.impl.nodeRecords(n)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.ContainerID != "" {
				if p, ok := live[r.ContainerID]; !ok || p.node != n {
					add(leakedRecord, "node %s: %s %s of container %s, no live pod", n.name, r.Kind, r.Path, r.ContainerID)
				}
				continue
			}
			if !livePods[r.Pod] {
				add(leakedRecord, "node %s: %s %s of pod %s, no live pod", n.name, r.Kind, r.Path, r.Pod)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

func sameAddrs(a, b []netip.Addr) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, netip.Addr.Compare)
	slices.SortFunc(b, netip.Addr.Compare)
	return slices.Equal(a, b)
}

// converge waits until the invariants hold (the node agents' queued
// patches applied) and returns how long that took, or the violations
// still there at the deadline.
func converge(ctx context.Context, c *cluster, pods []*podRun, timeout time.Duration) (time.Duration, []violation, error) {
	start := time.Now()
	for {
		v, err := checkInvariants(ctx, c, pods)
		if err != nil {
			return time.Since(start), nil, err
		}
		if len(v) == 0 || time.Since(start) > timeout {
			return time.Since(start), v, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}
