package main_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/pkg/metacni"
)

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

func TestFailingClusterNetworkLeavesNothingAndNamesIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// The cluster network's bridge runs, then its IPAM finds its one
	// address taken: the bridge's half-done work must be undone too.
	f.node.WriteFile(t, "net.d/20-broken.conflist", []byte(`{"cniVersion": "1.0.0", "name": "broken-cluster",
  "plugins": [{"type": "bridge", "bridge": "cni1", "ipam": {"type": "host-local", "subnet": "10.99.0.0/30", "dataDir": "`+f.ipamDir+`"}}]}`))
	taken := f.node.WriteFile(t, "ipam/broken-cluster/10.99.0.2", []byte("someone-else\r\neth0"))
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
	if err := os.Remove(taken); err != nil {
		t.Fatal(err)
	}
	f.assertClean(sb)
}

// A delegate whose DEL can never succeed (host-local rejects its own config
// on DEL too) makes the rollback fail: the record stays, and every DEL says
// why instead of pretending the container is gone.
func TestClusterNetworkThatCannotBeDeletedKeepsItsRecord(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.node.WriteFile(t, "net.d/20-broken.conflist", []byte(`{"cniVersion": "1.0.0", "name": "broken-cluster",
  "plugins": [{"type": "bridge", "bridge": "cni1", "ipam": {"type": "host-local", "subnet": "not-a-subnet"}}]}`))
	f.metaExtra = map[string]any{"clusterNetwork": "broken-cluster"}
	list := f.metaConfList("1.0.0")
	sb := f.newPod("undeletable", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	_, err := f.node.Add(ctx, list, sb.rt)
	if err == nil {
		t.Fatal("ADD with a broken cluster network succeeded")
	}
	if msg := cniErr(t, err).Msg; !strings.Contains(msg, "roll back: delete network file:") || !strings.Contains(msg, "not-a-subnet") {
		t.Errorf("ADD error %q does not report the failed rollback", msg)
	}
	f.keepLinks = append(f.keepLinks, "cni1")
	f.assertCleanExcept(sb, f.recordPath(sb))
	requireFile(t, f.recordPath(sb), "attachment record")
	if err := f.node.Del(ctx, list, sb.rt); err == nil || !strings.Contains(err.Error(), "not-a-subnet") {
		t.Fatalf("DEL = %v, want the delegate's failure", err)
	}
	requireFile(t, f.recordPath(sb), "attachment record after a failed DEL")
}
