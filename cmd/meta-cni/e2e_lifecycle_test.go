package main_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/testutils"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

var specVersions = []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"}

func TestAddCheckDelAtEveryCNIVersionLeavesNothingBehind(t *testing.T) {
	f := newFixture(t)
	for _, v := range specVersions {
		for _, form := range []string{"conflist", "conf"} {
			t.Run(v+"/"+form, func(t *testing.T) {
				addCheckDel(t, f, v, form)
			})
		}
	}
}

// addCheckDel attaches a pod through meta-cni loaded as a conflist or, as a
// runtime loads a .conf file, as a single conf.
func addCheckDel(t *testing.T, f *fixture, v, form string) {
	ctx := context.Background()
	list := f.metaConfList(v)
	if form == "conf" {
		single, err := libcni.ConfFromBytes(list.Plugins[0].Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if single, err = libcni.InjectConf(single, map[string]any{"name": list.Name, "cniVersion": v}); err != nil {
			t.Fatal(err)
		}
		if list, err = libcni.ConfListFromConf(single); err != nil {
			t.Fatal(err)
		}
	}
	sb := f.newPod("web-"+form+strings.ReplaceAll(v, ".", ""), map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	res, err := f.node.Add(ctx, list, sb.rt)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	if res.Version() != v {
		t.Fatalf("result version %s, want the caller's %s", res.Version(), v)
	}
	got := addrs(t, sb.ns)
	eth0 := requireIn(t, got, "eth0", clusterSubnet)
	requireIn(t, got, "net1", "192.168.91.0/24")
	r100, err := types100.NewResultFromResult(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(r100.IPs) != 1 || !r100.IPs[0].Address.IP.Equal(eth0) {
		t.Fatalf("result IPs %v, want the cluster network's %s", r100.IPs, eth0)
	}
	if testutils.SpecVersionHasCHECK(v) {
		if err := f.node.Check(ctx, list, sb.rt); err != nil {
			t.Fatalf("CHECK: %v", err)
		}
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

func TestTwoExtraNetworksGetNamedInterfacesAndMatchingNetworkStatus(t *testing.T) {
	for _, mode := range []string{"standalone", "node-api"} {
		t.Run(mode, func(t *testing.T) { twoExtraNetworks(t, mode) })
	}
}

// twoExtraNetworks attaches a pod with two NADs. Standalone, the plugin
// makes its own API calls; through the node API, every call goes through
// the daemon, and network-status and the Event land just after ADD.
func twoExtraNetworks(t *testing.T, mode string) {
	f := newFixture(t)
	if mode == "node-api" {
		f.startNodeAPI()
	}
	ctx := context.Background()
	list := f.metaConfList("1.1.0")
	sb := f.newPod("two", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a, " + f.namespace + "/macvlan-b@data"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, sb.ns)
	ips := map[string]string{
		"eth0": requireIn(t, got, "eth0", clusterSubnet).String(),
		"net1": requireIn(t, got, "net1", "192.168.91.0/24").String(),
		"data": requireIn(t, got, "data", "192.168.92.0/24").String(),
	}

	var status []nadv1.NetworkStatus
	pod := f.getPod(sb)
	if mode == "node-api" {
		pod = f.waitNetworkStatus(sb)
	}
	value := pod.Annotations[nadv1.NetworkStatusAnnot]
	if err := json.Unmarshal([]byte(value), &status); err != nil {
		t.Fatalf("network-status %q: %v", value, err)
	}
	wantNames := map[string]string{"eth0": "cbr0", "net1": f.namespace + "/macvlan-a", "data": f.namespace + "/macvlan-b"}
	if len(status) != 3 {
		t.Fatalf("network-status has %d entries, want 3: %s", len(status), value)
	}
	for _, st := range status {
		if st.Name != wantNames[st.Interface] {
			t.Errorf("status of %s names network %q, want %q", st.Interface, st.Name, wantNames[st.Interface])
		}
		if len(st.IPs) != 1 || st.IPs[0] != ips[st.Interface] {
			t.Errorf("status of %s lists IPs %v, netns has %s", st.Interface, st.IPs, ips[st.Interface])
		}
		if mac := macOf(t, sb.ns, st.Interface); st.Mac != mac {
			t.Errorf("status of %s lists MAC %s, netns has %s", st.Interface, st.Mac, mac)
		}
		if st.Default != (st.Interface == "eth0") {
			t.Errorf("status of %s has default=%v", st.Interface, st.Default)
		}
	}
	added := f.events(sb, "AddedInterface", 1)
	if len(added) != 1 {
		t.Fatalf("AddedInterface events %q, want one per ADD", added)
	}
	for ifname, ip := range ips {
		if !strings.Contains(added[0], "Add "+ifname+" ["+ip+"]") {
			t.Errorf("AddedInterface event %q does not report %s with %s", added[0], ifname, ip)
		}
	}
	if mode == "node-api" {
		served := f.nodeAPIServed()
		for _, want := range []string{
			"GET /api/v1/namespaces/" + f.namespace + "/pods/two",
			"GET /apis/k8s.cni.cncf.io/v1/namespaces/" + f.namespace + "/network-attachment-definitions/macvlan-a",
			"GET /apis/k8s.cni.cncf.io/v1/namespaces/" + f.namespace + "/network-attachment-definitions/macvlan-b",
			"PATCH /api/v1/namespaces/" + f.namespace + "/pods/two/status",
			"POST /api/v1/namespaces/" + f.namespace + "/events",
		} {
			if !slices.Contains(served, want) {
				t.Errorf("the node API did not serve %s; it served %q", want, served)
			}
		}
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

func TestDelSucceedsWhileAPIServerIsDown(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list := f.metaConfList("1.0.0")
	sb := f.newPod("offline", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a,macvlan-b"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	f.kube.StopAPIServer()
	defer func() {
		if err := f.kube.Start(); err != nil {
			t.Fatalf("restart kube-apiserver: %v", err)
		}
	}()
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL with the API down: %v", err)
	}
	f.assertClean(sb)
}

func TestDelTwiceAndDelWithNetnsGoneBothSucceed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list := f.metaConfList("1.1.0")
	sb := f.newPod("twice", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := f.node.Del(ctx, list, sb.rt); err != nil {
			t.Fatalf("DEL #%d: %v", i+1, err)
		}
	}
	f.assertClean(sb)

	gone := f.newPod("gone", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	if _, err := f.node.Add(ctx, list, gone.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	testenv.RemoveNS(gone.ns)
	if _, err := os.Stat(gone.rt.NetNS); err == nil {
		t.Fatal("netns still exists")
	}
	if err := f.node.Del(ctx, list, gone.rt); err != nil {
		t.Fatalf("DEL with the netns gone: %v", err)
	}
	f.assertClean(nil)
}

func TestDelWithoutRecordFallsBackToTheAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list := f.metaConfList("1.0.0")
	sb := f.newPod("norecord", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	if err := os.RemoveAll(f.cacheDir + "/attachments"); err != nil {
		t.Fatal(err)
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

func TestGCReleasesAttachmentsMissingFromValidList(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list := f.metaConfList("1.1.0")
	keep := f.newPod("keep", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	drop := f.newPod("drop", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	for _, sb := range []*sandbox{keep, drop} {
		if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
			t.Fatalf("ADD %s: %v", sb.pod.Name, err)
		}
	}
	valid := []types.GCAttachment{{ContainerID: keep.rt.ContainerID, IfName: "eth0"}}
	if err := f.node.GC(ctx, list, &libcni.GCArgs{ValidAttachments: valid}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got := addrs(t, drop.ns); len(got) != 1 {
		t.Errorf("GC'd pod still has links %v", keys(got))
	}
	requireIn(t, addrs(t, keep.ns), "net1", "192.168.91.0/24")
	if err := f.node.Check(ctx, list, keep.rt); err != nil {
		t.Errorf("CHECK of the kept pod after GC: %v", err)
	}
	if err := f.node.Del(ctx, list, keep.rt); err != nil {
		t.Fatal(err)
	}
	f.assertClean(keep)
}

func TestStatusReportsReadinessIndicator(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	indicator := f.node.Dir + "/ready"
	f.metaExtra = map[string]any{"readinessIndicatorFile": indicator, "readinessTimeout": "1s"}
	list := f.metaConfList("1.1.0")
	err := f.node.Status(ctx, list)
	if e := cniErr(t, err); e.Code != types.ErrPluginNotAvailable {
		t.Fatalf("STATUS without the indicator: code %d, want 50", e.Code)
	}
	sb := f.newPod("early", nil)
	if _, err := f.node.Add(ctx, list, sb.rt); cniErr(t, err).Code != types.ErrTryAgainLater {
		t.Fatalf("ADD without the indicator: %v, want code 11", err)
	}
	f.assertClean(sb)
	f.node.WriteFile(t, "ready", nil)
	if err := f.node.Status(ctx, list); err != nil {
		t.Fatalf("STATUS with the indicator: %v", err)
	}

	// An ADD that starts before the cluster network is ready waits for it.
	if err := os.Remove(indicator); err != nil {
		t.Fatal(err)
	}
	f.metaExtra["readinessTimeout"] = "10s"
	list = f.metaConfList("1.1.0")
	waiter := f.newPod("waiter", nil)
	time.AfterFunc(300*time.Millisecond, func() { _ = os.WriteFile(indicator, nil, 0o600) })
	start := time.Now()
	if _, err := f.node.Add(ctx, list, waiter.rt); err != nil {
		t.Fatalf("ADD while the indicator appears: %v", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("ADD returned after %s, before the indicator existed", waited)
	}
	if err := f.node.Del(ctx, list, waiter.rt); err != nil {
		t.Fatal(err)
	}
	f.assertClean(waiter)
}
