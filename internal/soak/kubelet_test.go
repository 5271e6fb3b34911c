package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// podRun is one pod as its node's kubelet and runtime see it.
type podRun struct {
	namespace, name, uid string
	node                 *node
	netns                ns.NetNS
	rt                   *libcni.RuntimeConf
	baseID               string        // the first sandbox's container ID
	live                 bool          // ADD succeeded and no DEL yet
	lastErr              error         // of the latest ADD
	lastCall             time.Duration // of the latest ADD or DEL
}

func (p *podRun) key() string { return p.namespace + "/" + p.name }

// phase is what one batch of ADDs or DELs measured.
type phase struct {
	Ops       int
	Latencies []time.Duration // of the calls that succeeded
	Errors    map[string]int  // by CNI code ("100", "11", ...), "other" when not a CNI error
	Wall      time.Duration
	Retries   int // new sandboxes the kubelet started after a failed one
	// PodNetwork is, for each pod that got its network, the time from
	// its first sandbox's ADD to the ADD that succeeded, back-offs
	// included: what a user waits for.
	PodNetwork []time.Duration
	// Messages counts the errors by their message with the pod's names
	// and numbers taken out, so a run says why calls failed.
	Messages map[string]int
	// FirstErrors keeps a few messages for the test log.
	FirstErrors []string
}

func newPhase() *phase { return &phase{Errors: map[string]int{}, Messages: map[string]int{}} }

func (ph *phase) record(mu *sync.Mutex, d time.Duration, err error) {
	mu.Lock()
	defer mu.Unlock()
	ph.Ops++
	if err == nil {
		ph.Latencies = append(ph.Latencies, d)
		return
	}
	ph.Errors[cniCode(err)]++
	ph.Messages[errorKind(err)]++
	if len(ph.FirstErrors) < 5 {
		ph.FirstErrors = append(ph.FirstErrors, err.Error())
	}
}

func (ph *phase) failed() int {
	n := 0
	for _, v := range ph.Errors {
		n += v
	}
	return n
}

// createPods creates count pod objects asking for the network nad, spread
// over the nodes in turn, as a scheduler would place a Deployment's
// replicas; this is the API server's part, not timed as ADD.
func createPods(ctx context.Context, c *cluster, namespace, prefix, nad string, count int) ([]*podRun, error) {
	return createPodsOn(ctx, c, c.nodes, namespace, prefix, nad, count)
}

// createPodsOn is createPods over the given nodes only.
func createPodsOn(ctx context.Context, c *cluster, nodes []*node, namespace, prefix, nad string, count int) ([]*podRun, error) {
	pods := make([]*podRun, count)
	errs := make([]error, count)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			n := nodes[i%len(nodes)]
			obj, err := c.kube.Clientset().CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i), Namespace: namespace,
					Annotations: map[string]string{"k8s.v1.cni.cncf.io/networks": nad}},
				Spec: corev1.PodSpec{NodeName: n.name, Containers: []corev1.Container{{Name: "c", Image: "example.invalid/app"}}},
			}, metav1.CreateOptions{})
			if err != nil {
				errs[i] = fmt.Errorf("create pod %s/%s-%d: %w", namespace, prefix, i, err)
				return
			}
			id := "c" + strings.ReplaceAll(string(obj.UID), "-", "")
			pods[i] = &podRun{namespace: namespace, name: obj.Name, uid: string(obj.UID), node: n, baseID: id, rt: &libcni.RuntimeConf{
				ContainerID: id, IfName: "eth0",
				Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", namespace}, {"K8S_POD_NAME", obj.Name},
					{"K8S_POD_INFRA_CONTAINER_ID", id}, {"K8S_POD_UID", string(obj.UID)}},
			}}
		}()
	}
	wg.Wait()
	return pods, errors.Join(errs...)
}

// eachOnNode runs fn for every pod on its node, at most
// perNodeConcurrency at a time per node, and returns the wall time.
func eachOnNode(pods []*podRun, fn func(p *podRun)) time.Duration {
	return eachOnNodePaced(pods, 0, fn)
}

// eachOnNodePaced is eachOnNode with the i-th pod reaching its kubelet
// i×pace after the start, as pods a controller creates at a steady rate
// do, instead of all at once.
func eachOnNodePaced(pods []*podRun, pace time.Duration, fn func(p *podRun)) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(start.Add(time.Duration(i) * pace)))
			p.node.kubelet <- struct{}{}
			defer func() { <-p.node.kubelet }()
			fn(p)
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// sandboxPolicy is what the runtime and the kubelet do after a failed ADD.
// containerd DELs every sandbox whose network setup failed, and the
// kubelet's pod worker tries again after its back-off, whatever the error;
// a policy can instead leave a failed sandbox as the plugin left it, so a
// check proves the plugin cleaned up on its own.
type sandboxPolicy struct {
	// retry: after a failed ADD, the runtime's DEL, then after the
	// kubelet's back-off a new sandbox (a new container ID), up to
	// maxSandboxAttempts. Without it a failed sandbox is left as it is.
	retry bool
	// keep says which failures no retry within the scenario can mend (a
	// full pool): their sandbox is left as the plugin left it.
	keep func(error) bool
	// observe, when set, sees every ADD as it ends, before keep is asked:
	// a fault scenario times each ADD against its fault.
	observe func(p *podRun, end time.Time, took time.Duration, err error)
	// failed, when set, sees each failed sandbox as the plugin left it,
	// before the runtime's DEL.
	failed func(p *podRun, err error)
	// pace, when set, spaces the pods' arrivals (eachOnNodePaced).
	pace time.Duration
}

// maxSandboxAttempts bounds the kubelet's retries, which in a real node
// go on for as long as the pod exists.
const maxSandboxAttempts = 5

// kubeletBackOff is the pod worker's back-off after a failed sync
// (backOffPeriod in k8s.io/kubernetes/pkg/kubelet, jittered by up to
// half of it); a variable so a test of the harness itself can shorten it.
var kubeletBackOff = 10 * time.Second

func backOff() time.Duration {
	return kubeletBackOff + time.Duration(rand.Int64N(int64(kubeletBackOff/2)+1))
}

// addPods is RunPodSandbox on every pod's node: a fresh netns (not
// timed), then ADD of the runtime's conflist from inside the node, and
// on failure what policy says. Every ADD, retries included, is counted.
func addPods(c *cluster, pods []*podRun, policy sandboxPolicy) (*phase, error) {
	lists, err := runtimeLists(c)
	if err != nil {
		return nil, err
	}
	ph, mu := newPhase(), &sync.Mutex{}
	var setupErrs []error
	fail := func(err error) {
		mu.Lock()
		setupErrs = append(setupErrs, err)
		mu.Unlock()
	}
	ph.Wall = eachOnNodePaced(pods, policy.pace, func(p *podRun) {
		list := lists[p.node.name]
		var first time.Time
		for attempt := 1; ; attempt++ {
			netns, err := testutils.NewNS()
			if err != nil {
				fail(fmt.Errorf("pod %s: netns: %w", p.key(), err))
				return
			}
			p.netns, p.rt.NetNS = netns, netns.Path()
			if err := setLoopbackUp(netns); err != nil {
				fail(err)
				return
			}
			if first.IsZero() {
				first = time.Now()
			}
			err = p.cniAdd(list)
			ph.record(mu, p.lastCall, err)
			if policy.observe != nil {
				policy.observe(p, time.Now(), p.lastCall, err)
			}
			p.lastErr = err
			if err == nil {
				p.live = true
				mu.Lock()
				ph.PodNetwork = append(ph.PodNetwork, time.Since(first))
				mu.Unlock()
				return
			}
			if !policy.retry || (policy.keep != nil && policy.keep(err)) {
				return
			}
			if policy.failed != nil {
				policy.failed(p, err)
			}
			if err := p.delFailedSandbox(list); err != nil {
				fail(fmt.Errorf("pod %s: the runtime's DEL of its failed sandbox: %w", p.key(), err))
				return
			}
			testenv.RemoveNS(p.netns)
			p.netns = nil
			if attempt == maxSandboxAttempts {
				return
			}
			mu.Lock()
			ph.Retries++
			mu.Unlock()
			// The pod's slot in the kubelet is free while it backs off.
			<-p.node.kubelet
			time.Sleep(backOff())
			p.node.kubelet <- struct{}{}
			p.newSandboxID(attempt)
		}
	})
	return ph, errors.Join(setupErrs...)
}

func runtimeLists(c *cluster) (map[string]*libcni.NetworkConfigList, error) {
	lists := map[string]*libcni.NetworkConfigList{}
	for _, n := range c.nodes {
		l, err := n.runtimeConflist()
		if err != nil {
			return nil, err
		}
		lists[n.name] = l
	}
	return lists, nil
}

// cniAdd is the runtime's ADD from inside the node; its duration is
// recorded by the caller through lastCall.
func (p *podRun) cniAdd(list *libcni.NetworkConfigList) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	defer func() { p.lastCall = time.Since(start) }()
	return p.node.netns().Do(func(ns.NetNS) error {
		_, err := p.node.cni().AddNetworkList(ctx, list, p.rt)
		return err
	})
}

func (p *podRun) cniDel(list *libcni.NetworkConfigList) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	defer func() { p.lastCall = time.Since(start) }()
	return p.node.netns().Do(func(ns.NetNS) error {
		return p.node.cni().DelNetworkList(ctx, list, p.rt)
	})
}

// delFailedSandbox is the runtime's DEL of a sandbox whose ADD failed,
// called again after a failure as the kubelet calls StopPodSandbox again
// (a DEL that cannot reach etcd while it elects a leader fails with 11).
func (p *podRun) delFailedSandbox(list *libcni.NetworkConfigList) error {
	var err error
	for attempt := 1; attempt <= maxSandboxAttempts; attempt++ {
		if err = p.cniDel(list); err == nil {
			return nil
		}
		time.Sleep(time.Duration(attempt) * time.Second)
	}
	return err
}

// newSandboxID gives the pod the container ID of its next sandbox.
func (p *podRun) newSandboxID(attempt int) {
	id := fmt.Sprintf("%s-%d", p.baseID, attempt)
	p.rt.ContainerID = id
	for i, a := range p.rt.Args {
		if a[0] == "K8S_POD_INFRA_CONTAINER_ID" {
			p.rt.Args[i][1] = id
		}
	}
}

// errorKind is an error's message with what differs from pod to pod
// (names, UIDs, container IDs, addresses, ports, durations) replaced, and
// its middle cut out, so equal causes count together.
func errorKind(err error) string {
	msg := volatile.ReplaceAllString(err.Error(), "N")
	// The plugin that failed is named first and the cause comes last.
	if len(msg) > 260 {
		msg = msg[:110] + " ... " + msg[len(msg)-150:]
	}
	return strings.ToValidUTF8(msg, "?")
}

var volatile = regexp.MustCompile(`[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|c?[0-9a-f]{16,}(-[0-9]+)?|[0-9]+`)

func cniCode(err error) string {
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		return fmt.Sprint(cniErr.Code)
	}
	return "other"
}

// delPods is StopPodSandbox then the pod's removal: DEL from inside the
// node (again after a failure, as the kubelet does), the netns removed,
// the pod object deleted. Pods whose ADD failed get the same DEL.
func delPods(c *cluster, pods []*podRun) (*phase, error) {
	lists, err := runtimeLists(c)
	if err != nil {
		return nil, err
	}
	ph, mu := newPhase(), &sync.Mutex{}
	var apiErrs []error
	ph.Wall = eachOnNode(pods, func(p *podRun) {
		// The kubelet calls StopPodSandbox again until it succeeds.
		for attempt := 1; attempt <= maxSandboxAttempts; attempt++ {
			err := p.cniDel(lists[p.node.name])
			ph.record(mu, p.lastCall, err)
			if err == nil {
				p.live = false
				if p.netns != nil {
					testenv.RemoveNS(p.netns)
					p.netns = nil
				}
				break
			}
			time.Sleep(time.Duration(attempt) * time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		zero := int64(0)
		err := c.kube.Clientset().CoreV1().Pods(p.namespace).Delete(ctx, p.name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil && !apierrors.IsNotFound(err) {
			mu.Lock()
			apiErrs = append(apiErrs, fmt.Errorf("delete pod %s: %w", p.key(), err))
			mu.Unlock()
		}
	})
	return ph, errors.Join(apiErrs...)
}

func setLoopbackUp(netns ns.NetNS) error {
	return netns.Do(func(ns.NetNS) error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
}

// mergePhases adds phases up, their walls summed (phases run one after
// another); withWall sets the wall of phases that overlapped.
func mergePhases(phs []*phase) *phase {
	out := newPhase()
	for _, ph := range phs {
		out.Ops += ph.Ops
		out.Latencies = append(out.Latencies, ph.Latencies...)
		out.PodNetwork = append(out.PodNetwork, ph.PodNetwork...)
		out.Wall += ph.Wall
		out.Retries += ph.Retries
		out.FirstErrors = append(out.FirstErrors, ph.FirstErrors...)
		for k, v := range ph.Errors {
			out.Errors[k] += v
		}
		for k, v := range ph.Messages {
			out.Messages[k] += v
		}
	}
	return out
}

func withWall(ph *phase, wall time.Duration) *phase {
	ph.Wall = wall
	return ph
}
