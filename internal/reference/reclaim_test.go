package reference_test

import (
	"context"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// reclaimDeletedPod proves Whereabouts' own leak reclaim in the reference:
// a pod deleted from the API without a CNI DEL (a node that died, a
// runtime that crashed) loses its allocation to ip-control-loop, as its
// daemonset runs it, and a later DEL of the sandbox still succeeds.
func reclaimDeletedPod(t *testing.T, k *testenv.Kube, rc *testenv.ReferenceCluster, rt *runtime) {
	loop, err := testenv.StartWhereaboutsControlLoop(t.TempDir(), nodeName, rc.WhereaboutsKubeconfig)
	if err != nil {
		t.Fatalf("start ip-control-loop: %v", err)
	}
	t.Cleanup(loop.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(loop.LogFile)
			t.Logf("ip-control-loop log (last 4 kB):\n%s", tail(data, 4096))
		}
	})
	sbs := newSandboxes(t, k, namespace, "orphan", "macvlan-wb", 1)
	sb := sbs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rt.attachAll(t, sbs)
	if held := podAllocations(t, k, sb.ref()); len(held) != 1 {
		t.Fatalf("IPPool holds %v for %s after its ADD, want one address", held, sb.ref())
	}
	// Multus writes network-status, which ip-control-loop reads to find
	// the pod's NADs; wait for it before the pod goes.
	waitFor(t, 30*time.Second, "network-status on "+sb.ref(), func() bool {
		p, err := k.Clientset().CoreV1().Pods(namespace).Get(ctx, sb.pod.Name, metav1.GetOptions{})
		return err == nil && p.Annotations["k8s.v1.cni.cncf.io/network-status"] != ""
	})
	zero := int64(0)
	if err := k.Clientset().CoreV1().Pods(namespace).Delete(ctx, sb.pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("delete pod %s: %v", sb.ref(), err)
	}
	waitFor(t, 90*time.Second, "ip-control-loop to release "+sb.ref()+"'s address", func() bool {
		return len(podAllocations(t, k, sb.ref())) == 0
	})
	if !loop.Running() {
		t.Errorf("ip-control-loop exited")
	}
	if err := rt.del(ctx, sb); err != nil {
		t.Errorf("the runtime's DEL after the reclaim: %v", err)
	}
	assertLinkGone(t, sbs, "net1")
}

// podAllocations are the addresses the IPPool holds for the pod ref.
func podAllocations(t *testing.T, k *testenv.Kube, ref string) []string {
	t.Helper()
	var out []string
	for ip, holder := range poolAllocations(t, k) {
		if holder == ref {
			out = append(out, ip)
		}
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
