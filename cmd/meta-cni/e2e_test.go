package main_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/vishvananda/netlink"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/metacni"
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
	f := newFixture(t)
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
	value := f.getPod(sb).Annotations[nadv1.NetworkStatusAnnot]
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
	events, err := f.kube.Clientset().CoreV1().Events(f.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, ev := range events.Items {
		if ev.Reason == "AddedInterface" && ev.InvolvedObject.Name == "two" {
			added = append(added, ev.Message)
		}
	}
	if len(added) != 1 {
		t.Fatalf("AddedInterface events %q, want one per ADD", added)
	}
	for ifname, ip := range ips {
		if !strings.Contains(added[0], "Add "+ifname+" ["+ip+"]") {
			t.Errorf("AddedInterface event %q does not report %s with %s", added[0], ifname, ip)
		}
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

func TestDefaultNetworkOverrideReplacesClusterNetworkOnEth0(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list := f.metaConfList("1.0.0")
	sb := f.newPod("under", map[string]string{"v1.multus-cni.io/default-network": f.namespace + "/macvlan-b"})
	res, err := f.node.Add(ctx, list, sb.rt)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, sb.ns)
	eth0 := requireIn(t, got, "eth0", "192.168.92.0/24")
	if len(got) != 2 {
		t.Fatalf("pod has links %v, want lo and eth0 only", keys(got))
	}
	r100, _ := types100.NewResultFromResult(res)
	if len(r100.IPs) != 1 || !r100.IPs[0].Address.IP.Equal(eth0) {
		t.Fatalf("result %v does not report the override network's address %s", r100.IPs, eth0)
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
}

func TestNamespaceIsolationRejectsOtherNamespacesButAllowsGlobalOnes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := f.namespace + "-other"
	f.createNAD(other, "private", f.macvlanConfig("0.3.1", "192.168.93.0/24", "ens3"))
	f.createNAD("default", "shared-"+f.namespace, f.macvlanConfig("0.3.1", "192.168.94.0/24", "ens3"))
	f.metaExtra = map[string]any{"namespaceIsolation": true}
	list := f.metaConfList("1.0.0")

	sb := f.newPod("iso", map[string]string{"k8s.v1.cni.cncf.io/networks": other + "/private"})
	_, err := f.node.Add(ctx, list, sb.rt)
	if err == nil {
		t.Fatal("ADD across namespaces succeeded under namespaceIsolation")
	}
	e := cniErr(t, err)
	if e.Code != types.ErrInvalidNetworkConfig {
		t.Errorf("code %d, want 7", e.Code)
	}
	for _, want := range []string{"pod " + f.namespace + "/iso", other + "/private", `"namespace"`} {
		if !strings.Contains(e.Msg, want) {
			t.Errorf("message %q does not name %s", e.Msg, want)
		}
	}
	f.assertClean(sb)

	ok := f.newPod("glob", map[string]string{"k8s.v1.cni.cncf.io/networks": "default/shared-" + f.namespace})
	if _, err := f.node.Add(ctx, list, ok.rt); err != nil {
		t.Fatalf("ADD of a global-namespace network: %v", err)
	}
	requireIn(t, addrs(t, ok.ns), "net1", "192.168.94.0/24")
	if err := f.node.Del(ctx, list, ok.rt); err != nil {
		t.Fatal(err)
	}
	f.assertClean(ok)
}

func TestSystemNamespacePodsGetOnlyTheClusterNetwork(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sys := f.namespace + "-sys"
	f.metaExtra = map[string]any{"systemNamespaces": []string{sys}}
	list := f.metaConfList("1.0.0")
	sb := f.newPodIn(sys, "dns", map[string]string{"k8s.v1.cni.cncf.io/networks": f.namespace + "/macvlan-a"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, sb.ns)
	requireIn(t, got, "eth0", clusterSubnet)
	if _, has := got["net1"]; has || len(got) != 2 {
		t.Fatalf("system-namespace pod has links %v, want lo and eth0 only", keys(got))
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatal(err)
	}
	f.assertClean(sb)
}

func TestFailingDelegateRollsBackEveryEarlierNetwork(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createNAD(f.namespace, "broken", f.macvlanConfig("1.0.0", "192.168.95.0/24", "no-such-nic"))
	list := f.metaConfList("1.0.0")
	sb := f.newPod("rb", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a, macvlan-b, broken"})
	_, err := f.node.Add(ctx, list, sb.rt)
	if err == nil {
		t.Fatal("ADD with a broken delegate succeeded")
	}
	e := cniErr(t, err)
	for _, want := range []string{"pod " + f.namespace + "/rb", f.namespace + "/broken", "net3"} {
		if !strings.Contains(e.Msg, want) {
			t.Errorf("message %q does not name %s", e.Msg, want)
		}
	}
	f.assertClean(sb)
	if _, has := f.getPod(sb).Annotations[nadv1.NetworkStatusAnnot]; has {
		t.Error("network-status was written for a pod whose ADD failed")
	}
	events, err := f.kube.Clientset().CoreV1().Events(f.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, ev := range events.Items {
		if ev.InvolvedObject.Name == "rb" {
			reasons = append(reasons, ev.Type+"/"+ev.Reason)
			if ev.Reason == "NetworkAttachFailed" && !strings.Contains(ev.Message, f.namespace+"/broken") {
				t.Errorf("failure event %q does not name the failing network", ev.Message)
			}
		}
	}
	if len(reasons) != 1 || reasons[0] != "Warning/NetworkAttachFailed" {
		t.Errorf("events %v, want one Warning/NetworkAttachFailed", reasons)
	}
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

func TestAddWhileAPIServerIsDownAsksToTryAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.metaExtra = map[string]any{"apiTimeout": "2s"}
	list := f.metaConfList("1.0.0")
	sb := f.newPod("later", nil)
	f.kube.StopAPIServer()
	defer func() {
		if err := f.kube.Start(); err != nil {
			t.Fatalf("restart kube-apiserver: %v", err)
		}
	}()
	_, err := f.node.Add(ctx, list, sb.rt)
	if e := cniErr(t, err); e.Code != types.ErrTryAgainLater {
		t.Fatalf("code %d (%s), want 11", e.Code, e.Msg)
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

func TestServiceAccountWithoutPermissionsGetsAClearError(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	kc, err := f.kube.ServiceAccountKubeconfig(f.node.Dir, f.namespace, "no-rights", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.kubeconfig = kc
	list := f.metaConfList("1.0.0")
	sb := f.newPod("denied", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	_, err = f.node.Add(ctx, list, sb.rt)
	e := cniErr(t, err)
	if e.Code != metacni.CodeForbidden {
		t.Errorf("code %d, want %d", e.Code, metacni.CodeForbidden)
	}
	for _, want := range []string{"pod " + f.namespace + "/denied", "forbidden", "ClusterRole"} {
		if !strings.Contains(e.Msg+" "+e.Details, want) {
			t.Errorf("error %q / %q does not mention %s", e.Msg, e.Details, want)
		}
	}
	f.assertClean(sb)
}

func TestBadInputGetsInvalidConfigNamingPodAnnotationAndField(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list := f.metaConfList("1.0.0")
	cases := []struct {
		name, annotation string
		want             []string
	}{
		{"longif", "macvlan-a@averyveryverylongname", []string{"k8s.v1.cni.cncf.io/networks", `"interface"`}},
		{"dupif", "macvlan-a@data, macvlan-b@data", []string{"interface", "data"}},
		{"badjson", `[{"name": "macvlan-a", "ips": "10.0.0.1"}]`, []string{"entry 0", `"ips"`}},
		{"badname", "Macvlan_A", []string{"entry 0", "Macvlan_A"}},
		{"missing", "does-not-exist", []string{f.namespace + "/does-not-exist", "not found"}},
		{"clash", "macvlan-a@eth0", []string{"interface", "eth0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb := f.newPod(c.name, map[string]string{"k8s.v1.cni.cncf.io/networks": c.annotation})
			_, err := f.node.Add(ctx, list, sb.rt)
			e := cniErr(t, err)
			if e.Code != types.ErrInvalidNetworkConfig {
				t.Errorf("code %d (%s), want 7", e.Code, e.Msg)
			}
			for _, want := range append(c.want, "pod "+f.namespace+"/"+c.name) {
				if !strings.Contains(e.Msg, want) {
					t.Errorf("message %q does not name %s", e.Msg, want)
				}
			}
			f.assertClean(sb)
		})
	}
}

func TestUnknownPodOrReplacedPodIsUnknownContainer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list := f.metaConfList("1.0.0")
	sb := f.newPod("real", nil)
	ghost := *sb.rt
	ghost.Args = [][2]string{{"K8S_POD_NAMESPACE", f.namespace}, {"K8S_POD_NAME", "ghost"}}
	if _, err := f.node.Add(ctx, list, &ghost); cniErr(t, err).Code != types.ErrUnknownContainer {
		t.Fatalf("ADD of a pod that does not exist: %v, want code 3", err)
	}
	replaced := *sb.rt
	replaced.Args = append([][2]string{}, sb.rt.Args...)
	replaced.Args[len(replaced.Args)-1] = [2]string{"K8S_POD_UID", "00000000-0000-0000-0000-000000000000"}
	if _, err := f.node.Add(ctx, list, &replaced); cniErr(t, err).Code != types.ErrUnknownContainer {
		t.Fatalf("ADD with a stale pod UID: %v, want code 3", err)
	}
	f.assertClean(sb)
}

func TestNonKubernetesCallerGetsTheClusterNetworkOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list := f.metaConfList("1.0.0")
	netns := testenv.NewNS(t)
	rt := &libcni.RuntimeConf{ContainerID: "plain1", NetNS: netns.Path(), IfName: "eth0"}
	if _, err := f.node.Add(ctx, list, rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, netns)
	requireIn(t, got, "eth0", clusterSubnet)
	if len(got) != 2 {
		t.Fatalf("links %v, want lo and eth0", keys(got))
	}
	if err := f.node.Del(ctx, list, rt); err != nil {
		t.Fatal(err)
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

func TestFailingClusterNetworkLeavesNothingAndNamesIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// The cluster network's bridge runs, then its IPAM cannot: the bridge's
	// half-done work must be undone too.
	f.node.WriteFile(t, "net.d/20-broken.conflist", []byte(`{"cniVersion": "1.0.0", "name": "broken-cluster",
  "plugins": [{"type": "bridge", "bridge": "cni1", "ipam": {"type": "host-local", "subnet": "not-a-subnet"}}]}`))
	f.metaExtra = map[string]any{"clusterNetwork": "broken-cluster"}
	list := f.metaConfList("1.0.0")
	sb := f.newPod("nocluster", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	_, err := f.node.Add(ctx, list, sb.rt)
	if err == nil {
		t.Fatal("ADD with a broken cluster network succeeded")
	}
	e := cniErr(t, err)
	for _, want := range []string{"pod " + f.namespace + "/nocluster", "20-broken.conflist", "eth0"} {
		if !strings.Contains(e.Msg, want) {
			t.Errorf("message %q does not name %s", e.Msg, want)
		}
	}
	f.keepLinks = append(f.keepLinks, "cni1")
	f.assertClean(sb)
}

func TestJSONAnnotationRequestsReachOnlyDelegatesThatDeclareTheCapability(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	capable := `{"cniVersion": "1.0.0", "type": "macvlan", "master": "ens3", "mode": "bridge",
  "capabilities": {"ips": true, "mac": true},
  "ipam": {"type": "host-local", "subnet": "192.168.96.0/24", "dataDir": "` + f.ipamDir + `"}}`
	f.createNAD(f.namespace, "capable", capable)
	list := f.metaConfList("1.1.0")
	annotation := `[{"name":"capable","interface":"net9","ips":["192.168.96.205/24"],"mac":"c2:b0:57:49:47:f1","default-route":["192.168.96.1"]},` +
		`{"name":"macvlan-a","ips":["192.168.91.250/24"],"mac":"c2:b0:57:49:47:f2"}]`
	sb := f.newPod("caps", map[string]string{"k8s.v1.cni.cncf.io/networks": annotation})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	got := addrs(t, sb.ns)
	if ip := requireIn(t, got, "net9", "192.168.96.0/24"); ip.String() != "192.168.96.205" {
		t.Errorf("net9 got %s, want the requested 192.168.96.205", ip)
	}
	if mac := macOf(t, sb.ns, "net9"); mac != "c2:b0:57:49:47:f1" {
		t.Errorf("net9 MAC %s, want the requested c2:b0:57:49:47:f1", mac)
	}
	// macvlan-a declares no capability: its plugins never see the requests.
	if ip := requireIn(t, got, "net2", "192.168.91.0/24"); ip.String() == "192.168.91.250" {
		t.Error("net2 got the requested IP although its NAD declares no ips capability")
	}
	if mac := macOf(t, sb.ns, "net2"); mac == "c2:b0:57:49:47:f2" {
		t.Error("net2 got the requested MAC although its NAD declares no mac capability")
	}
	// default-route moved the pod's default route to net9.
	var defaults []string
	err := sb.ns.Do(func(ns.NetNS) error {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				link, _ := netlink.LinkByIndex(r.LinkIndex)
				defaults = append(defaults, link.Attrs().Name+" via "+r.Gw.String())
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(defaults) != 1 || defaults[0] != "net9 via 192.168.96.1" {
		t.Errorf("default routes %v, want only net9 via 192.168.96.1", defaults)
	}
	var status []nadv1.NetworkStatus
	_ = json.Unmarshal([]byte(f.getPod(sb).Annotations[nadv1.NetworkStatusAnnot]), &status)
	for _, st := range status {
		if st.Default != (st.Interface == "net9") {
			t.Errorf("network-status of %s has default=%v; only net9 carries the default route", st.Interface, st.Default)
		}
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatal(err)
	}
	f.assertClean(sb)
}

func TestClusterNetworkFromANADAttachesLikeAConfFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	netns := f.namespace + "-cluster"
	f.createNAD(netns, "pod-network", `{"cniVersion": "1.0.0", "name": "pod-network",
  "plugins": [{"type": "bridge", "bridge": "cni2", "isGateway": true,
    "ipam": {"type": "host-local", "subnet": "10.245.1.0/24", "dataDir": "`+f.ipamDir+`"}}]}`)
	f.keepLinks = append(f.keepLinks, "cni2")
	for _, ref := range []string{netns + "/pod-network", "pod-network"} {
		t.Run(ref, func(t *testing.T) {
			f.metaExtra = map[string]any{"clusterNetwork": ref, "multusNamespace": netns}
			list := f.metaConfList("1.0.0")
			sb := f.newPod("nadcluster-"+strings.ReplaceAll(ref, "/", "-"), map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
			if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
				t.Fatalf("ADD: %v", err)
			}
			got := addrs(t, sb.ns)
			requireIn(t, got, "eth0", "10.245.1.0/24")
			requireIn(t, got, "net1", "192.168.91.0/24")
			if err := f.node.Del(ctx, list, sb.rt); err != nil {
				t.Fatal(err)
			}
			f.assertClean(sb)
		})
	}
}
