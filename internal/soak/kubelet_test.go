package soak

import (
	"context"
	"errors"
	"fmt"
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
	live                 bool // ADD succeeded and no DEL yet
}

func (p *podRun) key() string { return p.namespace + "/" + p.name }

// phase is what one batch of ADDs or DELs measured.
type phase struct {
	Ops       int
	Latencies []time.Duration // of the calls that succeeded
	Errors    map[string]int  // by CNI code ("100", "11", ...), "other" when not a CNI error
	Wall      time.Duration
	// FirstErrors keeps a few messages for the test log.
	FirstErrors []string
}

func newPhase() *phase { return &phase{Errors: map[string]int{}} }

func (ph *phase) record(mu *sync.Mutex, d time.Duration, err error) {
	mu.Lock()
	defer mu.Unlock()
	ph.Ops++
	if err == nil {
		ph.Latencies = append(ph.Latencies, d)
		return
	}
	code := "other"
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		code = fmt.Sprint(cniErr.Code)
	}
	ph.Errors[code]++
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
	pods := make([]*podRun, count)
	errs := make([]error, count)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			n := c.nodes[i%len(c.nodes)]
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
			pods[i] = &podRun{namespace: namespace, name: obj.Name, uid: string(obj.UID), node: n, rt: &libcni.RuntimeConf{
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
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.node.kubelet <- struct{}{}
			defer func() { <-p.node.kubelet }()
			fn(p)
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// addPods is RunPodSandbox on every pod's node: a fresh netns (not
// timed), then ADD of the runtime's conflist from inside the node.
func addPods(c *cluster, pods []*podRun) (*phase, error) {
	lists := map[string]*libcni.NetworkConfigList{}
	for _, n := range c.nodes {
		l, err := n.runtimeConflist()
		if err != nil {
			return nil, err
		}
		lists[n.name] = l
	}
	ph, mu := newPhase(), &sync.Mutex{}
	var setupErrs []error
	ph.Wall = eachOnNode(pods, func(p *podRun) {
		netns, err := testutils.NewNS()
		if err != nil {
			mu.Lock()
			setupErrs = append(setupErrs, fmt.Errorf("pod %s: netns: %w", p.key(), err))
			mu.Unlock()
			return
		}
		p.netns, p.rt.NetNS = netns, netns.Path()
		if err := setLoopbackUp(netns); err != nil {
			mu.Lock()
			setupErrs = append(setupErrs, err)
			mu.Unlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		err = p.node.netns().Do(func(ns.NetNS) error {
			_, err := p.node.cni().AddNetworkList(ctx, lists[p.node.name], p.rt)
			return err
		})
		ph.record(mu, time.Since(start), err)
		p.live = err == nil
	})
	return ph, errors.Join(setupErrs...)
}

// delPods is StopPodSandbox then the pod's removal: DEL from inside the
// node, the netns removed, the pod object deleted. Pods whose ADD failed
// get the same DEL, as the kubelet sends one.
func delPods(c *cluster, pods []*podRun) (*phase, error) {
	lists := map[string]*libcni.NetworkConfigList{}
	for _, n := range c.nodes {
		l, err := n.runtimeConflist()
		if err != nil {
			return nil, err
		}
		lists[n.name] = l
	}
	ph, mu := newPhase(), &sync.Mutex{}
	var apiErrs []error
	ph.Wall = eachOnNode(pods, func(p *podRun) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		err := p.node.netns().Do(func(ns.NetNS) error {
			return p.node.cni().DelNetworkList(ctx, lists[p.node.name], p.rt)
		})
		ph.record(mu, time.Since(start), err)
		if err == nil {
			p.live = false
			if p.netns != nil {
				testenv.RemoveNS(p.netns)
				p.netns = nil
			}
		}
		zero := int64(0)
		err = c.kube.Clientset().CoreV1().Pods(p.namespace).Delete(ctx, p.name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
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
