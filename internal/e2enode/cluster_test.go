package e2enode

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// startCluster brings up the control plane and REALNODE_NODES nodes (2 by
// default: cluster-wide IPAM only shows its worth across nodes), each with
// the node and workload images, for one test, and at cleanup tears it down
// and fails the test if anything of it is left on the machine. It returns
// the workload image's ref too.
func startCluster(t *testing.T) (*realnode.Cluster, string) {
	t.Helper()
	return startClusterWith(t, realnode.Options{})
}

// startClusterWith is startCluster with opts (its Dir and Images are
// filled in; Nodes too, when zero).
func startClusterWith(t *testing.T, opts realnode.Options) (*realnode.Cluster, string) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "containerd", "runc", "ctr", "nsenter", "unshare")
	nodes := 2
	if opts.Nodes > 0 {
		nodes = opts.Nodes
	} else if v := os.Getenv("REALNODE_NODES"); v != "" {
		var err error
		if nodes, err = strconv.Atoi(v); err != nil {
			t.Fatalf("REALNODE_NODES=%q: %v", v, err)
		}
	}
	images, workload, err := realnode.NodeImages()
	if err != nil {
		t.Fatalf("build images: %v", err)
	}
	start := time.Now()
	opts.Dir, opts.Nodes, opts.Images = t.TempDir(), nodes, images
	c, err := realnode.Start(opts)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Logf("cluster with %d node(s) up in %s", nodes, time.Since(start).Round(100*time.Millisecond))
	state := c.State()
	t.Cleanup(func() {
		start := time.Now()
		// A node rebooted by the test runs new processes in a new mount
		// namespace: what it had at the start and at the end are both checked.
		end := c.State()
		if err := c.Stop(); err != nil {
			t.Errorf("tear down: %v", err)
		}
		for _, s := range []realnode.State{state, end} {
			if err := realnode.Leaks(s); err != nil {
				t.Errorf("left on the machine after teardown:\n%v", err)
			}
		}
		t.Logf("teardown in %s", time.Since(start).Round(100*time.Millisecond))
	})
	return c, workload
}

// pauseDeployment is n pause pods on the cluster network.
func pauseDeployment(name string, n int32) *appsv1.Deployment {
	lbl := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{
						Name: "pause", Image: realnode.PauseImage, ImagePullPolicy: corev1.PullNever,
					}},
				},
			},
		},
	}
}

// waitPods waits until want pods match sel and every one is Running
// (want 0: until none is left at all) and returns them.
func waitPods(t *testing.T, cs kubernetes.Interface, sel map[string]string, want int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
		if err == nil {
			running := 0
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
					running++
				}
			}
			if len(pods.Items) == want && running == want {
				return pods.Items
			}
			last = fmt.Sprintf("%d pods, %d Running", len(pods.Items), running)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pods %v: want %d Running, after %s: %s", sel, want, timeout, last)
	return nil
}
