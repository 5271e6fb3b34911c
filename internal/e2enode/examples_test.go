package e2enode

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// examplesNetwork is the NAD of examples/nad-macvlan-etcd-ipam.yaml, which
// every example pod asks for.
const examplesNetwork = "default/macvlan-conf"

// TestExamplesApplyUnchanged is issue 8's promise that examples/ applies to
// a real node as to a kind cluster: on a node with ens3 on the underlay
// 10.10.20.0/24, the chart installed with examples/values-underlay.yaml
// (etcd-ipam's etcd over mTLS at 10.10.20.152), every example file but the
// values is applied as it is on disk, and each pod gets the networks it
// asks for, in its netns and in its network-status; deleting them leaves
// no allocation in etcd.
func TestExamplesApplyUnchanged(t *testing.T) {
	c, _ := startClusterWith(t, realnode.Options{Nodes: 1, Examples: true})
	begin := time.Now()
	if err := c.InstallChart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("chart installed with %s in %s", realnode.ExamplesValues, time.Since(begin).Round(100*time.Millisecond))
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	begin = time.Now()
	for _, f := range files { // nad-* sort before pod-*
		if filepath.Base(f) == filepath.Base(realnode.ExamplesValues) {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Kube.Apply(data); err != nil {
			t.Fatalf("apply %s: %v", filepath.Base(f), err)
		}
	}
	// The dual-stack NAD has no example pod: one asks for it here.
	dual := examplePod("app-dual", "macvlan-dual")
	if _, err := c.Clientset().CoreV1().Pods("default").Create(context.Background(), dual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	names := []string{"app", "app-static", "app-underlay", "app-dual"}
	pods := map[string]corev1.Pod{}
	for _, name := range names {
		pods[name] = waitPodRunning(t, c, name, 120*time.Second)
	}
	t.Logf("%d example pods Running %s after the first apply", len(pods), time.Since(begin).Round(100*time.Millisecond))

	var held []string
	app := exampleNetwork(t, c, pods["app"], examplesNetwork, "net1")
	if ip := net.ParseIP(app.IPs[0]); !inRange(ip, "10.10.20.50", "10.10.20.200") || inRange(ip, "10.10.20.100", "10.10.20.103") || ip.Equal(net.ParseIP(realnode.UnderlayEtcdIP)) {
		t.Errorf("app: net1 has %s, want one in .50–.200 outside the excluded .100/30 and .152", ip)
	}
	static := exampleNetwork(t, c, pods["app-static"], examplesNetwork, "net9")
	if !equalSets(static.IPs, []string{"10.10.20.205"}) || static.Mac != "c2:b0:57:49:47:f1" {
		t.Errorf("app-static: net9 has %v and MAC %s, want 10.10.20.205 and c2:b0:57:49:47:f1", static.IPs, static.Mac)
	}
	under := exampleNetwork(t, c, pods["app-underlay"], examplesNetwork, "eth0")
	if _, subnet, _ := net.ParseCIDR(realnode.UnderlaySubnet); !subnet.Contains(net.ParseIP(pods["app-underlay"].Status.PodIP)) {
		t.Errorf("app-underlay: pod IP %s, want eth0 on the underlay %s", pods["app-underlay"].Status.PodIP, realnode.UnderlaySubnet)
	}
	dualSt := exampleNetwork(t, c, pods["app-dual"], "default/macvlan-dual", "net1")
	var v4, v6 bool
	for _, a := range dualSt.IPs {
		ip := net.ParseIP(a)
		v4 = v4 || inRange(ip, "10.10.20.50", "10.10.20.200")
		v6 = v6 || inRange(ip, "fd00:10:20::100", "fd00:10:20::1ff")
	}
	if !v4 || !v6 {
		t.Errorf("app-dual: net1 has %v, want one address of each range of macvlan-dual", dualSt.IPs)
	}
	for _, st := range []networkStatus{app, static, under, dualSt} {
		held = append(held, st.IPs...)
	}
	t.Logf("addresses: app net1 %v, app-static net9 %v, app-underlay eth0 %v, app-dual net1 %v", app.IPs, static.IPs, under.IPs, dualSt.IPs)
	// The legacy NAD names macvlan master enp5s0f0 and certificates at the
	// paths of its users' hosts (/etc/etcd/ssl): neither is on a node here.

	for _, name := range names {
		if err := c.Clientset().CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		waitPodGone(t, c, name, 120*time.Second)
	}
	var v4held []string
	for _, a := range held {
		if !strings.Contains(a, ":") {
			v4held = append(v4held, a)
		}
	}
	waitNoAllocation(t, c, v4held, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := append(ipamKeys(t, c, ipamPrefix+"/owners/"), ipamKeys(t, c, ipamPrefix+"/ipv6/")...)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd-ipam keys left 30s after every example pod was deleted: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// examplePod is a pod like examples/pod-two-networks.yaml on network.
func examplePod(name, network string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default",
			Annotations: map[string]string{"k8s.v1.cni.cncf.io/networks": network}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: realnode.UpstreamPauseImage}}},
	}
}

// exampleNetwork is the pod's network-status entry of network on iface,
// checked against what the pod's netns holds there.
func exampleNetwork(t *testing.T, c *realnode.Cluster, p corev1.Pod, network, iface string) networkStatus {
	t.Helper()
	st, inside, mac, err := networksOf(t, c, p, network, iface)
	if err != nil {
		t.Fatalf("pod %s: %v", p.Name, err)
	}
	if !equalSets(inside, st.IPs) || mac != st.Mac {
		t.Errorf("pod %s: network-status says %s has %v and MAC %s; its netns has %v and MAC %s", p.Name, iface, st.IPs, st.Mac, inside, mac)
	}
	return st
}

func inRange(ip net.IP, from, to string) bool {
	a, b := net.ParseIP(from), net.ParseIP(to)
	if ip == nil || (ip.To4() == nil) != (a.To4() == nil) {
		return false
	}
	return bytes.Compare(ip.To16(), a.To16()) >= 0 && bytes.Compare(ip.To16(), b.To16()) <= 0
}

// waitPodRunning waits until the pod in default is Running with an IP.
func waitPodRunning(t *testing.T, c *realnode.Cluster, name string, timeout time.Duration) corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		p, err := getPod(t, c, "default", name)
		if err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			return *p
		}
		if err != nil {
			last = err.Error()
		} else {
			last = string(p.Status.Phase)
		}
		time.Sleep(200 * time.Millisecond)
	}
	logSandboxFailures(t, c)
	t.Fatalf("pod %s not Running after %s: %s", name, timeout, last)
	return corev1.Pod{}
}

// waitPodGone waits until the pod in default no longer exists.
func waitPodGone(t *testing.T, c *realnode.Cluster, name string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := getPod(t, c, "default", name); apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("pod %s still there %s after its deletion", name, timeout)
}
