package e2enode

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The reconciler as the reboot and node-death tests set it through the
// chart: a pass every reconcileEvery, so the grace, not the interval, is
// what the tests see.
const reconcileEvery = 2 * time.Second

// reconcilerValues are the chart values that set the reconciler's pass
// interval and grace.
func reconcilerValues(grace time.Duration) []string {
	return []string{"ipam.reconcileInterval=" + reconcileEvery.String(), "ipam.reconcileGrace=" + grace.String()}
}

// rebootGrace is the reconciler's grace in the reboot scenario.
const rebootGrace = 20 * time.Second

// TestNodeRebootBringsPodsBackWithTheirNetworks is issue 8's scenario 4.
// Three pods of a Deployment on the macvlan NAD (etcd-ipam + host-route)
// and one bare pod run on a node; the node loses power (no CNI DEL), the
// bare pod is force-deleted while it is down, and the node boots with its
// /run wiped. The kubelet must bring the three back, same pods, with the
// macvlan network in their netns and in their network-status; every
// address held before the reboot is then either held by a live pod or
// released (by the DEL of the old sandbox, or by the reconciler once the
// grace has passed), and etcd-ipam holds exactly the live pods' addresses.
func TestNodeRebootBringsPodsBackWithTheirNetworks(t *testing.T) {
	c, workload := startCluster(t)
	if err := c.InstallChart(reconcilerValues(rebootGrace)...); err != nil {
		t.Fatal(err)
	}
	node := c.Nodes[len(c.Nodes)-1]
	cs := c.Clientset()
	ctx := context.Background()
	createMacvlanNAD(t, c, seedNAD, 100, 110)
	d := workloadDeployment("reboot", workload, 3, seedNAD)
	d.Spec.Template.Spec.NodeSelector = map[string]string{corev1.LabelHostname: node.Name}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gone := workloadPod("reboot-gone", workload, node.Name, seedNAD)
	if _, err := cs.CoreV1().Pods("default").Create(ctx, gone, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, cs, d.Spec.Selector.MatchLabels, 3, 120*time.Second)
	gonePod := waitPods(t, cs, gone.Labels, 1, 120*time.Second)[0]
	before := checkSeedPods(t, c, append(append([]corev1.Pod{}, pods...), gonePod))
	if t.Failed() {
		return
	}
	if held := keys(heldAddrs(holdings(t, c))); !equalSets(held, before) {
		t.Fatalf("before the reboot etcd-ipam holds %v, the pods have %v", sorted(held), sorted(before))
	}

	off := time.Now()
	if err := c.PowerOff(node); err != nil {
		t.Fatalf("power off %s: %v", node.Name, err)
	}
	// An operator removes a pod of the dead node: its sandbox is then one
	// the kubelet no longer knows when the node is back.
	if err := cs.CoreV1().Pods("default").Delete(ctx, gonePod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatalf("force-delete pod %s: %v", gonePod.Name, err)
	}
	booted := time.Now()
	if err := c.Boot(node); err != nil {
		t.Fatalf("boot %s: %v", node.Name, err)
	}
	ready := time.Since(booted)
	back := waitPodsBack(t, c, pods, booted, 180*time.Second)
	podsBack := time.Since(booted)
	uidOf := map[string]string{}
	for _, p := range back {
		ips, _ := seedNetworksMatch(t, c, p)
		for _, ip := range ips {
			uidOf[ip] = string(p.UID)
		}
	}
	waitHeldExactly(t, c, uidOf, rebootGrace+30*time.Second)
	settled := time.Since(booted)
	var eth0 []string
	for _, p := range back {
		eth0 = append(eth0, p.Status.PodIP)
	}
	// The force-deleted pod's sandbox is one the kubelet no longer knows: its
	// container GC (every minute) removes it, and that runs its DEL.
	waitHostLocalExactly(t, node, eth0, time.Minute+30*time.Second)
	t.Logf("reboot of %s (power off took %s): Ready %s after boot, 3 pods back with their networks after %s, etcd-ipam equal to the live pods' addresses after %s, host-local after %s (grace %s, pass every %s)",
		node.Name, booted.Sub(off).Round(10*time.Millisecond), ready.Round(100*time.Millisecond), podsBack.Round(100*time.Millisecond),
		settled.Round(100*time.Millisecond), time.Since(booted).Round(100*time.Millisecond), rebootGrace, reconcileEvery)
	// Sandboxes the kubelet failed to create while the node came back (the
	// daemon's node API not up yet: meta-cni fails, the kubelet retries).
	logSandboxFailures(t, c)
	t.Logf("the force-deleted pod %s had eth0 %s", gonePod.Name, gonePod.Status.PodIP)
	byReconciler := reconcilerReleases(t, c)
	for _, ip := range sorted(before) {
		switch {
		case uidOf[ip] != "":
			t.Logf("%s: held by live pod UID %s", ip, uidOf[ip])
		case byReconciler[ip] != "":
			t.Logf("%s: released by the reconciler on %s", ip, byReconciler[ip])
		default:
			t.Logf("%s: released by a DEL", ip)
		}
	}
}

// workloadPod is one bare workload pod on node, attached to networks.
func workloadPod(name, image, node, networks string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name},
			Annotations: map[string]string{"k8s.v1.cni.cncf.io/networks": networks}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: new(int64),
			Containers:                    []corev1.Container{{Name: "workload", Image: image, ImagePullPolicy: corev1.PullNever}},
		},
	}
}

// waitPodsBack waits until each of pods (the same object: same UID) runs
// containers started after booted and its network-status for the seed
// network equals its netns, and returns them as they are then. Until the
// kubelet has synced a pod, its status is the last boot's.
func waitPodsBack(t *testing.T, c *realnode.Cluster, pods []corev1.Pod, booted time.Time, timeout time.Duration) []corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var back []corev1.Pod
		why := map[string]string{}
		for _, p := range pods {
			cur, err := getPod(t, c, p.Namespace, p.Name)
			switch {
			case err != nil:
				why[p.Name] = err.Error()
			case cur.UID != p.UID:
				t.Fatalf("pod %s was replaced (UID %s, was %s): the kubelet should have restarted it in place", p.Name, cur.UID, p.UID)
			case !startedSince(cur, booted):
				why[p.Name] = fmt.Sprintf("phase %s, containers not all started since the boot", cur.Status.Phase)
			default:
				if _, w := seedNetworksMatch(t, c, *cur); w != "" {
					why[p.Name] = w
				} else {
					back = append(back, *cur)
				}
			}
		}
		if len(back) == len(pods) {
			return back
		}
		if time.Now().After(deadline) {
			logSandboxFailures(t, c)
			t.Fatalf("pods not back with their networks %s after the boot: %v", timeout, why)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// startedSince says whether p is Running with every container running
// since t (status times have second resolution).
func startedSince(p *corev1.Pod, t time.Time) bool {
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil || cs.State.Running.StartedAt.Time.Before(t.Truncate(time.Second)) {
			return false
		}
	}
	return true
}

// waitHeldExactly waits until etcd-ipam holds exactly the addresses of
// uidOf, each for the pod UID it maps to: no allocation that no live pod
// holds. On timeout it names each stray record.
func waitHeldExactly(t *testing.T, c *realnode.Cluster, uidOf map[string]string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		hs := holdings(t, c)
		var wrong []string
		held := map[string]bool{}
		for _, h := range hs {
			for _, a := range h.Addrs {
				ip := a.Addr.String()
				held[ip] = true
				if uidOf[ip] != h.PodUID {
					wrong = append(wrong, fmt.Sprintf("%s held by pod %s/%s (UID %s, container %.12s, node %s, since %s)",
						ip, h.PodNamespace, h.PodName, h.PodUID, h.ContainerID, h.Node, h.Time.Format(time.RFC3339)))
				}
			}
		}
		for ip, uid := range uidOf {
			if !held[ip] {
				wrong = append(wrong, fmt.Sprintf("%s of live pod UID %s not held in etcd-ipam", ip, uid))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(wrong)
			t.Fatalf("etcd-ipam does not hold exactly the live pods' addresses %s later:\n  %s", timeout, strings.Join(wrong, "\n  "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitHostLocalExactly waits until the cluster network's host-local files
// on node (its data dir is on disk, so it outlives a reboot) hold exactly
// ips: the old sandboxes' DELs freed theirs. etcd-ipam's reconciler does
// not help here: the cluster network's addresses are the DELs' alone.
func waitHostLocalExactly(t *testing.T, node *realnode.Node, ips []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		entries, err := os.ReadDir(filepath.Join(node.IPAMDir, "cluster"))
		if err != nil {
			t.Fatalf("read host-local's dir on %s: %v", node.Name, err)
		}
		var files []string
		for _, e := range entries {
			if net.ParseIP(e.Name()) != nil {
				files = append(files, e.Name())
			}
		}
		if equalSets(files, ips) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("host-local on %s holds %v %s after etcd-ipam settled, want exactly the live pods' eth0 addresses %v", node.Name, sorted(files), timeout, sorted(ips))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// keys are a map's keys, in no order.
func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
