package e2enode

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/meta-cni/meta-cni/internal/testenv/realnode"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// podRun is what a podWatch saw of one pod: when the test created it, when
// it first ran, and what its sandbox held at that moment.
type podRun struct {
	phase   string
	created time.Time // when the test's create call returned
	running time.Time // when the watch first saw it Running with an IP
	node    string
	// status is the network-status annotation as the pod first ran (the
	// node API may patch it a moment later, so it can be empty).
	status string
	// links are the interfaces in the pod's netns as it first ran; linkErr
	// why they could not be read.
	links   []string
	linkErr error
	looked  chan struct{} // closed once links or linkErr is set
}

// podWatch records every pod of the default namespace with label test=name
// as it runs, and looks into its netns at once: a pod that ran with eth0
// alone during a disruption and was later replaced would escape a check
// made at the end.
type podWatch struct {
	c    *realnode.Cluster
	name string

	mu   sync.Mutex
	runs map[string]*podRun
	stop context.CancelFunc
}

func watchPods(t *testing.T, c *realnode.Cluster, name string) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &podWatch{c: c, name: name, runs: map[string]*podRun{}, stop: cancel}
	f := informers.NewSharedInformerFactoryWithOptions(c.Clientset(), 0, informers.WithNamespace("default"),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "test=" + name }))
	inf := f.Core().V1().Pods().Informer()
	seen := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			w.saw(p)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: seen, UpdateFunc: func(_, obj any) { seen(obj) }}); err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("pod watch did not sync")
	}
	t.Cleanup(w.close)
	return w
}

func (w *podWatch) close() {
	w.stop()
	w.snapshot("")
}

// created records that the test created the pod now.
func (w *podWatch) created(phase, pod string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.run(pod)
	r.phase = phase
	if r.created.IsZero() {
		r.created = time.Now()
	}
}

func (w *podWatch) run(pod string) *podRun {
	r := w.runs[pod]
	if r == nil {
		r = &podRun{}
		w.runs[pod] = r
	}
	return r
}

func (w *podWatch) saw(p *corev1.Pod) {
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.run(p.Name)
	if !r.running.IsZero() {
		return
	}
	r.running, r.node = time.Now(), p.Spec.NodeName
	r.status = p.Annotations["k8s.v1.cni.cncf.io/network-status"]
	r.looked = make(chan struct{})
	go func() {
		links, err := w.podLinks(p.Spec.NodeName, p.Status.PodIP)
		w.mu.Lock()
		r.links, r.linkErr = links, err
		w.mu.Unlock()
		close(r.looked)
	}()
}

// podLinks lists the interfaces of the pod with eth0 address ip.
func (w *podWatch) podLinks(node, ip string) ([]string, error) {
	for _, n := range w.c.Nodes {
		if n.Name != node {
			continue
		}
		netns, err := n.PodNetNS(ip)
		if err != nil {
			return nil, err
		}
		defer netns.Close()
		var names []string
		err = netns.Do(func(ns.NetNS) error {
			links, err := netlink.LinkList()
			for _, l := range links {
				names = append(names, l.Attrs().Name)
			}
			return err
		})
		sort.Strings(names)
		return names, err
	}
	return nil, fmt.Errorf("no node %s", node)
}

// snapshot copies the runs of one phase ("" for all), once every netns
// look started so far has finished.
func (w *podWatch) snapshot(phase string) map[string]podRun {
	for {
		w.mu.Lock()
		var pending []chan struct{}
		for _, r := range w.runs {
			if r.looked != nil && !closed(r.looked) {
				pending = append(pending, r.looked)
			}
		}
		if len(pending) == 0 {
			out := map[string]podRun{}
			for name, r := range w.runs {
				if phase == "" || r.phase == phase {
					out[name] = *r
				}
			}
			w.mu.Unlock()
			return out
		}
		w.mu.Unlock()
		for _, l := range pending {
			<-l
		}
	}
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// seenRunning waits until the watch has seen every pod named run (a GET
// may see Running before the watch does), so checkRuns covers them all.
func (w *podWatch) seenRunning(t *testing.T, phase string, names []string) map[string]podRun {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs := w.snapshot(phase)
		var unseen []string
		for _, n := range names {
			if runs[n].running.IsZero() {
				unseen = append(unseen, n)
			}
		}
		if len(unseen) == 0 {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod watch has not seen %v Running 30s after the API said so", unseen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startLatencies are each phase pod's create → Running.
func startLatencies(runs map[string]podRun) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, r := range runs {
		if !r.created.IsZero() && !r.running.IsZero() {
			out[name] = r.running.Sub(r.created)
		}
	}
	return out
}

// macvlanPod is a pause pod of the watch's test and phase that asks for
// the seed network (realnode's macvlan, etcd-ipam, host-route) as net1.
func macvlanPod(test, phase, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default",
			Labels:      map[string]string{"test": test, "phase": phase},
			Annotations: map[string]string{"k8s.v1.cni.cncf.io/networks": seedNAD},
		},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers:                    []corev1.Container{{Name: "pause", Image: realnode.PauseImage, ImagePullPolicy: corev1.PullNever}},
		},
	}
}

// createPods creates pods of phase one after another, every interval,
// until stop is closed and at least least are made (at most most), and
// returns their names.
func createPods(t *testing.T, w *podWatch, phase string, interval time.Duration, least, most int, stop <-chan struct{}) []string {
	var names []string
	for i := 0; i < most; i++ {
		if i >= least {
			select {
			case <-stop:
				return names
			default:
			}
		}
		name := fmt.Sprintf("%s-%s-%d", w.name, phase, i)
		if _, err := w.c.Clientset().CoreV1().Pods("default").Create(context.Background(), macvlanPod(w.name, phase, name), metav1.CreateOptions{}); err != nil {
			t.Errorf("create pod %s: %v", name, err)
			return names
		}
		w.created(phase, name)
		names = append(names, name)
		time.Sleep(interval)
	}
	return names
}

// waitRunning waits until every pod named is Running and returns them.
func waitRunning(t *testing.T, c *realnode.Cluster, names []string, timeout time.Duration) []corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var pods []corev1.Pod
		var waiting []string
		for _, name := range names {
			p, err := c.Clientset().CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
			if err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				pods = append(pods, *p)
			} else {
				waiting = append(waiting, name)
			}
		}
		if len(waiting) == 0 {
			return pods
		}
		if time.Now().After(deadline) {
			logSandboxFailures(t, c)
			t.Fatalf("%d of %d pods not Running after %s: %v", len(waiting), len(names), timeout, waiting)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkRuns fails the test for every pod that first ran without the seed
// network: no net1 in its netns then, or a network-status then that lists
// only the cluster network.
func checkRuns(t *testing.T, runs map[string]podRun) {
	t.Helper()
	for name, r := range runs {
		if r.running.IsZero() {
			continue
		}
		if r.linkErr != nil {
			t.Errorf("pod %s: netns as it first ran: %v", name, r.linkErr)
		} else if !contains(r.links, "net1") || !contains(r.links, "eth0") {
			t.Errorf("pod %s ran with interfaces %v, want eth0 and net1 (the seed network)", name, r.links)
		}
		if r.status != "" && !strings.Contains(r.status, `"default/`+seedNAD+`"`) {
			t.Errorf("pod %s ran with a network-status without default/%s: %s", name, seedNAD, r.status)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// sandboxFailures are the FailedCreatePodSandBox Events of the pods named
// prefix*, as "pod: message (xN)".
func sandboxFailures(t *testing.T, c *realnode.Cluster, prefix string) []string {
	t.Helper()
	evs, err := c.Clientset().CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "reason=FailedCreatePodSandBox"})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []string
	for _, e := range evs.Items {
		if strings.HasPrefix(e.InvolvedObject.Name, prefix) {
			out = append(out, fmt.Sprintf("%s: %s (x%d)", e.InvolvedObject.Name, e.Message, e.Count))
		}
	}
	sort.Strings(out)
	return out
}
