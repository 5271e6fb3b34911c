package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meta-cni/meta-cni/internal/testenv"
	"github.com/meta-cni/meta-cni/pkg/daemon"
)

const (
	nodeName = "node-1"
	master   = "ens3"
)

// run is one scenario on one implementation, on a node of its own.
type run struct {
	t         *testing.T
	sc        *scenario
	impl      *impl
	kube      *testenv.Kube
	node      *testenv.Node
	dir       string
	namespace string
	cniPath   []string
	list      *libcni.NetworkConfigList
	pods      []*sandbox
	nodeAPI   *daemon.NodeAPI
}

// sandbox is a pod as the runtime sees it.
type sandbox struct {
	spec pod
	obj  *corev1.Pod
	ns   ns.NetNS
	rt   *libcni.RuntimeConf
}

// expand fills a config's placeholders.
func (r *run) expand(s string) string {
	return strings.NewReplacer("$DIR", r.dir, "$NS", r.namespace, "$MASTER", master).Replace(s)
}

func newRun(t *testing.T, sc *scenario, i *impl, dir string) *run {
	t.Helper()
	k := sharedKube(t)
	r := &run{t: t, sc: sc, impl: i, kube: k, dir: dir, namespace: sc.namespace()}
	r.node = testenv.NewNode(t, master)
	u, err := url.Parse(k.URL)
	if err != nil {
		t.Fatal(err)
	}
	testenv.ForwardIntoNST(t, r.node.NS, u.Host)
	r.cniPath = []string{r.node.CNIPath}
	if i.isMultus() {
		r.cniPath = append([]string{multusBinDir(t, i)}, r.cniPath...)
	}
	files := map[string]string{"net.d/10-cbr0.conflist": clusterConflist}
	for name, content := range sc.files {
		files[name] = content
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(r.expand(content)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !i.isMultus() {
		r.startNodeAPI()
	}
	r.list = r.confList()
	return r
}

// confList is the meta-plugin's conflist as its install writes it: the
// scenario's NetConf, the same for every implementation but for "type",
// plus what the install adds (kubeconfig; for meta-cni, the node name and
// the node API socket its daemon writes in).
func (r *run) confList() *libcni.NetworkConfigList {
	r.t.Helper()
	plugin := map[string]any{
		"kubeconfig":     r.impl.kubeconfig,
		"clusterNetwork": "cbr0",
		"confDir":        filepath.Join(r.dir, "net.d"),
		"cniDir":         filepath.Join(r.dir, "cache", "multus"),
		"cacheDir":       filepath.Join(r.dir, "cache", "meta-cni"),
		"logFile":        filepath.Join(r.dir, "log", r.impl.name+".log"),
		"logLevel":       "debug",
		"logToStderr":    false,
	}
	for k, v := range r.sc.netconf {
		if s, ok := v.(string); ok {
			v = r.expand(s)
		}
		plugin[k] = v
	}
	if r.impl.isMultus() {
		plugin["type"] = "multus"
	} else {
		plugin["type"] = "meta-cni"
		plugin["nodeName"] = nodeName
		plugin["daemonSocket"] = r.socket()
	}
	version := r.sc.cniVersion
	if version == "" {
		version = "1.0.0"
	}
	data, err := json.Marshal(map[string]any{"cniVersion": version, "name": "multus-cni-network", "plugins": []any{plugin}})
	if err != nil {
		r.t.Fatal(err)
	}
	list, err := libcni.ConfListFromBytes([]byte(r.expand(string(data))))
	if err != nil {
		r.t.Fatalf("meta-plugin conflist: %v", err)
	}
	return list
}

func (r *run) socket() string { return filepath.Join(r.dir, "run", "node-api.sock") }

// startNodeAPI serves meta-cni-daemon's node API as the chart turns it on.
func (r *run) startNodeAPI() {
	r.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", r.impl.kubeconfig)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(r.socket()), 0o700); err != nil {
		r.t.Fatal(err)
	}
	n, err := daemon.NewNodeAPI(cfg, nodeName, filepath.Join(r.dir, "run", "journal"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		r.t.Fatal(err)
	}
	stop, err := daemon.ServeSocket(r.socket(), n)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Close(ctx)
	})
	r.nodeAPI = n
}

// settle waits until the node API has applied every network-status patch
// and sent every Event it accepted, so both implementations are observed
// with their writes done (Multus makes them before ADD returns).
func (r *run) settle() {
	if r.nodeAPI == nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for !r.nodeAPI.Idle() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// createPods creates the scenario's pods, replacing any of the same name
// an earlier run left (same namespace and name, new UID), with a netns each.
func (r *run) createPods() {
	r.t.Helper()
	ctx := context.Background()
	for _, spec := range r.sc.pods {
		namespace := spec.namespace
		if namespace == "" {
			namespace = r.namespace
		}
		if err := r.kube.EnsureNamespace(namespace); err != nil {
			r.t.Fatal(err)
		}
		pods := r.kube.Clientset().CoreV1().Pods(namespace)
		r.deletePod(namespace, spec.name)
		annotations := map[string]string{}
		for k, v := range spec.annotations {
			annotations[k] = r.expand(v)
		}
		obj, err := pods.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: spec.name, Namespace: namespace, Annotations: annotations},
			Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "example.invalid/app"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			r.t.Fatalf("create pod %s/%s: %v", namespace, spec.name, err)
		}
		netns := testenv.NewNS(r.t)
		id := fmt.Sprintf("c%x", strings.ReplaceAll(string(obj.UID), "-", ""))[:24]
		r.pods = append(r.pods, &sandbox{spec: spec, obj: obj, ns: netns, rt: &libcni.RuntimeConf{
			ContainerID: id, NetNS: netns.Path(), IfName: "eth0", CapabilityArgs: r.sc.capabilityArgs,
			Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", namespace}, {"K8S_POD_NAME", spec.name},
				{"K8S_POD_INFRA_CONTAINER_ID", id}, {"K8S_POD_UID", string(obj.UID)}},
		}})
	}
}

func (r *run) deletePod(namespace, name string) {
	r.t.Helper()
	pods := r.kube.Clientset().CoreV1().Pods(namespace)
	zero := int64(0)
	err := pods.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		r.t.Fatalf("delete pod %s/%s: %v", namespace, name, err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := pods.Get(context.Background(), name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
	}
	r.t.Fatalf("pod %s/%s still there 10s after its deletion", namespace, name)
}

// cni is the runtime's libcni, on the run's CNI path, called from inside
// the node.
func (r *run) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(r.cniPath, filepath.Join(r.node.Dir, "runtime-cache"), nil)
}

func (r *run) inNode(fn func(c *libcni.CNIConfig) error) error {
	return r.node.NS.Do(func(ns.NetNS) error { return fn(r.cni()) })
}

// ctx bounds one CNI call: Multus waits up to 45s for a readiness file.
func (r *run) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 90*time.Second)
}

func (r *run) add(sb *sandbox) error {
	ctx, cancel := r.ctx()
	defer cancel()
	return r.inNode(func(c *libcni.CNIConfig) error { _, err := c.AddNetworkList(ctx, r.list, sb.rt); return err })
}

func (r *run) del(sb *sandbox) error {
	ctx, cancel := r.ctx()
	defer cancel()
	return r.inNode(func(c *libcni.CNIConfig) error { return c.DelNetworkList(ctx, r.list, sb.rt) })
}

func (r *run) verb(name string) error {
	ctx, cancel := r.ctx()
	defer cancel()
	return r.inNode(func(c *libcni.CNIConfig) error {
		switch name {
		case "CHECK":
			for _, sb := range r.pods {
				if err := c.CheckNetworkList(ctx, r.list, sb.rt); err != nil {
					return fmt.Errorf("pod %s: %w", sb.spec.name, err)
				}
			}
			return nil
		case "STATUS":
			return c.GetStatusNetworkList(ctx, r.list)
		case "GC":
			var valid []types.GCAttachment
			for _, sb := range r.pods {
				valid = append(valid, types.GCAttachment{ContainerID: sb.rt.ContainerID, IfName: sb.rt.IfName})
			}
			return c.GCNetworkList(ctx, r.list, &libcni.GCArgs{ValidAttachments: valid})
		}
		return fmt.Errorf("unknown verb %s", name)
	})
}
