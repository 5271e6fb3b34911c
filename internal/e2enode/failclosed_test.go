package e2enode

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// createEvery is the pace pods are created at: some ADDs land before,
// during and after the daemon's gap, and one node on this shared 2-core
// machine keeps up (at one a second, pods queued behind each other and
// the wait measured the queue).
const createEvery = 2 * time.Second

// TestFailClosedAcrossDaemonRestartAndUpgrade is issue 8's scenario 3.
// Pods that ask for the seed network (macvlan, etcd-ipam, host-route) are
// created one every createEvery while (a) the meta-cni-daemon pods are deleted and
// the DaemonSet starts new ones, and (b) `helm upgrade` changes the daemon
// and meta-cni's conflist, which rolls the DaemonSet. Every pod must run
// with all its networks, or not yet run (the kubelet retries a failed
// sandbox): none may run with eth0 alone, checked in its netns and in its
// network-status as it first ran. Afterwards every address goes back.
// How long pods wait is logged, against a steady phase. `make test` runs
// the restart only; E2ENODE_LONG=1 adds the steady phase and the upgrade.
func TestFailClosedAcrossDaemonRestartAndUpgrade(t *testing.T) {
	c, _ := startCluster(t)
	if err := c.InstallChart(); err != nil {
		t.Fatal(err)
	}
	createMacvlanNAD(t, c, seedNAD, 100, 199)
	w := watchPods(t, c, "fc")
	var all []string

	if longRun() {
		// The reference for the waits below: the same pace, no disruption.
		steady := createPods(t, w, "steady", createEvery, 5, 5, nil)
		all = append(all, checkPhase(t, c, w, "steady", steady)...)
	}

	all = append(all, disrupt(t, c, w, "restart", func() error {
		old, err := c.RestartDaemons()
		if err != nil {
			return err
		}
		return c.WaitDaemonsReplaced(old, 3*time.Minute)
	})...)

	if !longRun() {
		// make test: TestUpgradeAndUninstall runs a helm upgrade under
		// the same pod checks; this test's own upgrade is the long run's.
		checkFailures(t, c)
		deletePods(t, c, all)
		return
	}
	all = append(all, disrupt(t, c, w, "upgrade", func() error {
		// Both roll the DaemonSet: a daemon flag, and meta-cni's own
		// conflist (the ConfigMap's checksum), which the new daemons
		// rewrite under the runtime while pods are being added.
		return c.UpgradeChart("daemon.logLevel=debug", "config.logLevel=debug")
	})...)

	checkFailures(t, c)
	deletePods(t, c, all)
}

// checkFailures logs every failed sandbox of the test's pods and fails
// the test for one that is not meta-cni's "try again" while its daemon
// is away.
func checkFailures(t *testing.T, c *realnode.Cluster) {
	t.Helper()
	failures := sandboxFailures(t, c, "fc-")
	for _, f := range failures {
		t.Logf("sandbox failure: %s", f)
		if !retryable(f) {
			t.Errorf("a sandbox failed with an error that does not say to try again: %s", f)
		}
	}
	t.Logf("%d failed sandbox creations, each retried by the kubelet", len(failures))
}

// disrupt creates pods of phase one every createEvery while run disrupts
// the daemons, and two more after it returns; it then checks them all.
func disrupt(t *testing.T, c *realnode.Cluster, w *podWatch, phase string, run func() error) []string {
	t.Helper()
	stop := make(chan struct{})
	made := make(chan []string)
	most := 5 // make test: enough to land pods before, in and after the gap
	if longRun() {
		most = 10
	}
	go func() { made <- createPods(t, w, phase, createEvery, 3, most, stop) }()
	time.Sleep(2 * createEvery)
	begin := time.Now()
	err := run()
	t.Logf("%s: daemons disrupted for %s", phase, time.Since(begin).Round(100*time.Millisecond))
	time.Sleep(2 * createEvery)
	close(stop)
	names := <-made
	if err != nil {
		t.Fatalf("%s: %v", phase, err)
	}
	return checkPhase(t, c, w, phase, names)
}

// checkPhase waits for the phase's pods to run, checks that each ran
// with the seed network and that its network-status is what its netns
// holds, and logs create → Running.
func checkPhase(t *testing.T, c *realnode.Cluster, w *podWatch, phase string, names []string) []string {
	t.Helper()
	pods := waitRunning(t, c, names, 3*time.Minute)
	runs := w.seenRunning(t, phase, names)
	checkRuns(t, runs)
	ips := checkSeedPods(t, c, pods)
	if len(ips) != len(pods) || len(ips) != len(unique(ips)) {
		t.Errorf("%s: %d pods hold seed addresses %v: want one each, none shared", phase, len(pods), ips)
	}
	t.Logf("%s: create → Running, %d pods: %s", phase, len(pods), spread(startLatencies(runs)))
	return names
}

// deletePods deletes the pods and checks that etcd-ipam freed every
// address and owner: a sandbox that failed and was retried must not have
// left its first allocation behind.
func deletePods(t *testing.T, c *realnode.Cluster, names []string) {
	t.Helper()
	for _, name := range names {
		if err := c.Clientset().CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete pod %s: %v", name, err)
		}
	}
	waitNoAllocation(t, c, seedIPs(100, 199), 2*time.Minute)
	if keys := ipamKeys(t, c, "/meta-cni/ipam/owners/"); len(keys) != 0 {
		t.Errorf("etcd-ipam owners left after every pod was deleted: %v", keys)
	}
}

func unique(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// retryable says whether a sandbox failure is meta-cni's "try again"
// while its daemon is away: code 11 (which the kubelet's message does not
// show), naming the daemon's socket.
func retryable(failure string) bool {
	return strings.Contains(failure, "meta-cni-daemon's node API at /run/meta-cni/node-api.sock is unavailable")
}
