package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/routing"
)

// TestGCRemovesOnlyStaleAttachmentsOfItsNetwork adds two pods on one
// network and one on another, then runs host-route's GC for the first
// network keeping one pod.
// Only the other pod of that network loses its veth and table; the kept pod
// and the other network's pod still pass CHECK, and DEL of everything,
// including the collected pod, leaves the node as it was.
func TestGCRemovesOnlyStaleAttachmentsOfItsNetwork(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conf := hostRouteConf("veth", map[string]any{"hostInterface": master})
	mine := namedConflist(t, n, "underlay", 50, "1.1.0", conf)
	other := namedConflist(t, n, "other", 100, "1.1.0", conf)
	before := snapshot(t, n.NS)

	keep, _ := addPod(t, n, mine, "gc-keep")
	stale, _ := addPod(t, n, mine, "gc-stale")
	foreign, _ := addPod(t, n, other, "gc-foreign")

	// host-route's GC alone: libcni's GCNetworkList would first DEL the
	// stale attachment from its own cache and prove nothing about the plugin.
	gc := map[string]any{"cni.dev/valid-attachments": []types.GCAttachment{{ContainerID: keep.ContainerID, IfName: keep.IfName}}}
	for k, v := range conf {
		gc[k] = v
	}
	if _, err := execHostRoute(n, "GC", keep, hostRouteStdin(t, "1.1.0", gc, nil)); err != nil {
		t.Fatalf("GC: %v", err)
	}
	links, err := testenv.Links(n.NS)
	if err != nil {
		t.Fatal(err)
	}
	ruleset, err := testenv.RunIn(n.NS, "nft", "list", "tables")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		pod  *testenv.Pod
		kept bool
	}{{keep, true}, {stale, false}, {foreign, true}} {
		veth := routing.HostVethName(p.pod.ContainerID, p.pod.IfName)
		table := routing.TableName(p.pod.ContainerID, p.pod.IfName)
		if has := strings.Contains(strings.Join(links, " "), veth); has != p.kept {
			t.Errorf("%s: veth %s present=%v after GC, want %v", p.pod.ContainerID, veth, has, p.kept)
		}
		if has := strings.Contains(ruleset, table); has != p.kept {
			t.Errorf("%s: table %s present=%v after GC, want %v", p.pod.ContainerID, table, has, p.kept)
		}
	}
	if err := n.Check(ctx, mine, keep.RuntimeConf()); err != nil {
		t.Errorf("CHECK of the kept pod after GC: %v", err)
	}
	if err := n.Check(ctx, other, foreign.RuntimeConf()); err != nil {
		t.Errorf("CHECK of the other network's pod after GC: %v", err)
	}

	for _, d := range []struct {
		list *libcni.NetworkConfigList
		pod  *testenv.Pod
	}{{mine, keep}, {mine, stale}, {other, foreign}} {
		if err := n.Del(ctx, d.list, d.pod.RuntimeConf()); err != nil {
			t.Errorf("DEL %s: %v", d.pod.ContainerID, err)
		}
	}
	if diff := before.Diff(snapshot(t, n.NS)); diff != "" {
		t.Fatalf("node after GC and DELs differs from before:\n%s", diff)
	}
}
