package reference_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// kubeletParallel is how many CNI calls the harness makes at once on a
// node, as the kubelet does.
const kubeletParallel = 8

// sandbox is a pod as the runtime sees it: the object, its netns and the
// runtime config of its CNI calls.
type sandbox struct {
	pod *corev1.Pod
	ns  ns.NetNS
	rt  *libcni.RuntimeConf
}

func (s *sandbox) ref() string { return s.pod.Namespace + "/" + s.pod.Name }

// newSandboxes creates n pod objects named prefix-i in namespace, asking
// for network, and a netns for each.
func newSandboxes(t *testing.T, k *testenv.Kube, namespace, prefix, network string, n int) []*sandbox {
	t.Helper()
	var out []*sandbox
	for i := 0; i < n; i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i), Namespace: namespace,
				Annotations: map[string]string{"k8s.v1.cni.cncf.io/networks": network}},
			Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "example.invalid/app"}}},
		}
		pod, err := k.Clientset().CoreV1().Pods(namespace).Create(context.Background(), pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod %s/%s: %v", namespace, pod.Name, err)
		}
		netns := testenv.NewPodNS(t)
		id := fmt.Sprintf("c%x", strings.ReplaceAll(string(pod.UID), "-", ""))[:24]
		out = append(out, &sandbox{pod: pod, ns: netns, rt: &libcni.RuntimeConf{
			ContainerID: id, NetNS: netns.Path(), IfName: "eth0",
			Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", namespace}, {"K8S_POD_NAME", pod.Name},
				{"K8S_POD_INFRA_CONTAINER_ID", id}, {"K8S_POD_UID", string(pod.UID)}},
		}})
	}
	return out
}

// runtime is a node's container runtime: its CNI path and cache, and the
// conflist it loaded from the node's conf dir.
type runtime struct {
	node *testenv.Node
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
	// ref is the reference's node install; nil for meta-cni.
	ref *testenv.ReferenceNode
}

// newRuntime is a runtime on node running list with plugins from binDir.
// Plugins' stderr goes to a file, as a runtime keeps it out of the
// kubelet's way; Whereabouts logs every ADD there at debug.
func newRuntime(t *testing.T, node *testenv.Node, list *libcni.NetworkConfigList, binDir, name string) *runtime {
	t.Helper()
	stderr, err := os.Create(filepath.Join(node.Dir, name+"-plugins.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stderr.Close() })
	exec := &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: stderr}, PluginDecoder: version.PluginDecoder{}}
	return &runtime{node: node, list: list,
		cni: libcni.NewCNIConfigWithCacheDir([]string{binDir}, filepath.Join(node.Dir, "runtime-cache-"+name), exec)}
}

func (r *runtime) add(ctx context.Context, sb *sandbox) error {
	return r.node.NS.Do(func(ns.NetNS) error {
		_, err := r.cni.AddNetworkList(ctx, r.list, sb.rt)
		if err != nil {
			return fmt.Errorf("ADD pod %s: %w", sb.ref(), err)
		}
		return nil
	})
}

func (r *runtime) del(ctx context.Context, sb *sandbox) error {
	return r.node.NS.Do(func(ns.NetNS) error {
		if err := r.cni.DelNetworkList(ctx, r.list, sb.rt); err != nil {
			return fmt.Errorf("DEL pod %s: %w", sb.ref(), err)
		}
		return nil
	})
}

// addAttempts is how often a pod's ADD is tried. A failed sandbox is
// torn down (DEL) and tried again, as the kubelet does; Multus gives the
// API server 250 ms to return the pod, which a loaded machine misses.
const addAttempts = 3

// attachAll ADDs every sandbox, kubeletParallel at a time, retrying as
// the kubelet does, and returns each pod's time to a successful ADD, the
// wall time of the batch and the failed attempts.
func (r *runtime) attachAll(t *testing.T, sbs []*sandbox) (testenv.Latencies, time.Duration, []error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var failed []error
	lat, wall, err := testenv.RunConcurrent(len(sbs), kubeletParallel, func(i int) error {
		var err error
		for range addAttempts {
			if err = r.add(ctx, sbs[i]); err == nil {
				return nil
			}
			mu.Lock()
			failed = append(failed, err)
			mu.Unlock()
			if err := r.del(ctx, sbs[i]); err != nil {
				return fmt.Errorf("tear down after a failed ADD: %w", err)
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("%v (after %d attempts; failed attempts: %v)", err, addAttempts, failed)
	}
	return lat, wall, failed
}

// detachAll DELs every sandbox, kubeletParallel at a time.
func (r *runtime) detachAll(t *testing.T, sbs []*sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, _, err := testenv.RunConcurrent(len(sbs), kubeletParallel, func(i int) error { return r.del(ctx, sbs[i]) }); err != nil {
		t.Fatal(err)
	}
}

// podAddresses reads the IPv4 address of link in every sandbox's netns and
// fails on a sandbox without exactly one, or on an address two pods hold.
func podAddresses(t *testing.T, sbs []*sandbox, link string, within *net.IPNet) map[string]string {
	t.Helper()
	byIP := map[string]string{}
	for _, sb := range sbs {
		ips, err := testenv.LinkAddrs(sb.ns, link)
		if err != nil {
			t.Fatalf("pod %s: addresses of %s: %v", sb.ref(), link, err)
		}
		var v4 []net.IP
		for _, ip := range ips {
			if ip.To4() != nil {
				v4 = append(v4, ip)
			}
		}
		if len(v4) != 1 {
			t.Fatalf("pod %s has %d IPv4 addresses on %s (%v), want 1", sb.ref(), len(v4), link, ips)
		}
		ip := v4[0].String()
		if !within.Contains(v4[0]) {
			t.Errorf("pod %s got %s on %s, outside %s", sb.ref(), ip, link, within)
		}
		if other, dup := byIP[ip]; dup {
			t.Errorf("address %s given to both %s and %s", ip, other, sb.ref())
		}
		byIP[ip] = sb.ref()
	}
	return byIP
}

// assertLinkGone fails unless link is absent from every sandbox's netns.
func assertLinkGone(t *testing.T, sbs []*sandbox, link string) {
	t.Helper()
	for _, sb := range sbs {
		links, err := testenv.Links(sb.ns)
		if err != nil {
			t.Fatalf("pod %s: list links: %v", sb.ref(), err)
		}
		for _, l := range links {
			if l == link {
				t.Errorf("pod %s still has %s after DEL", sb.ref(), link)
			}
		}
	}
}
