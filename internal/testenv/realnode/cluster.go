// Package realnode runs real Kubernetes nodes on this machine: a control
// plane on loopback (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler) and, per node, a containerd and a kubelet in the node's
// own netns and private mount namespace, the nodes' uplinks on one bridge
// in a "fabric" netns. The tests in internal/e2enode and `make node-up`
// use it; nothing of it changes the machine's own network or sysctls, and
// Stop leaves nothing behind (Leaks checks that).
package realnode

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/meta-cni/meta-cni/internal/image"
	"github.com/meta-cni/meta-cni/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// PauseImage is the sandbox image every node imports (images/pause).
const PauseImage = "localhost/meta-cni/pause:1"

// UpstreamPauseImage is the same image under the ref pods in examples/
// name, so they run with the default pull policy and no pull.
const UpstreamPauseImage = "registry.k8s.io/pause:3.10"

// Options says what to bring up.
type Options struct {
	Dir   string // everything of the cluster lives under it
	Nodes int    // 1 when zero
	// Images are docker-archive tarballs every node imports after the
	// pause image (image.Node, image.Workload), for pods with
	// imagePullPolicy Never.
	Images []string
	// Examples makes the cluster a home for examples/ (examples.go): the
	// IPAM etcd over mTLS, the cluster network named cbr0, and
	// InstallChart with examples/values-underlay.yaml.
	Examples bool
}

// Cluster is a control plane and its nodes.
type Cluster struct {
	Name       string // prefix of the netns and cgroups: "mcni-<hex>"
	Dir        string
	Kube       *testenv.Kube
	Kubeconfig string
	Nodes      []*Node
	FabricNS   string
	// IPAMEtcd is etcd-ipam's etcd, apart from the control plane's so IPAM
	// data and Kubernetes objects never share a keyspace or a failure. Its
	// loopback endpoint is relayed into every node netns at the same
	// address, so one endpoint list serves the host and the nodes.
	IPAMEtcd *testenv.EtcdCluster
	// IPAMTLS is a client's TLS for IPAMEtcd: nil unless Options.Examples.
	IPAMTLS  *tls.Config
	Examples bool
	examples *examplesPKI

	controllers  []*proc
	egress       *egressProxy     // the API server's way to the kubelets
	apiRelay     *testenv.Forward // ControlPlaneIP on the fabric to the API server
	underlayEtcd *testenv.Forward // UnderlayEtcdIP on the underlay to IPAMEtcd
}

// Start brings the cluster up and waits until every node is Ready. On
// error, what was started is torn down.
func Start(opts Options) (c *Cluster, err error) {
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	begin := time.Now()
	c = &Cluster{Name: clusterPrefix + randomHex(3), Dir: opts.Dir, Examples: opts.Examples}
	c.FabricNS = c.Name + "-fabric"
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	progressf("control plane (etcd, kube-apiserver) in %s", c.Dir)
	if err = c.startAPIServer(); err != nil {
		return c, err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err = writeKubeconfig(c.Kube, c.Kubeconfig); err != nil {
		return c, err
	}
	if err = c.startControllers(); err != nil {
		return c, err
	}
	progressf("etcd for etcd-ipam")
	if err = c.startIPAMEtcd(); err != nil {
		return c, err
	}
	pauseTar, err := buildPause(filepath.Join(c.Dir, "pause.tar"))
	if err != nil {
		return c, err
	}
	progressf("fabric netns %s", c.FabricNS)
	if err = addFabric(c.FabricNS); err != nil {
		return c, err
	}
	if err = c.joinFabric(opts.Nodes); err != nil {
		return c, err
	}
	if err = c.relayUnderlayEtcd(); err != nil {
		return c, err
	}
	for i := 0; i < opts.Nodes; i++ {
		n := c.newNode(i)
		if err = addNodeNet(c.FabricNS, n.NetNS, n.Name, i, opts.Nodes); err != nil {
			return c, err
		}
		c.Nodes = append(c.Nodes, n)
		if err = n.start(c.Kube.URL, c.Kubeconfig, c.IPAMEtcd.Endpoints(), append([]string{pauseTar}, opts.Images...)); err != nil {
			return c, err
		}
	}
	for _, n := range c.Nodes {
		if err = c.waitReady(n, 90*time.Second); err != nil {
			return c, err
		}
	}
	for _, n := range c.Nodes {
		if err = n.waitKubeProxy(60 * time.Second); err != nil {
			return c, err
		}
	}
	progressf("cluster %s up with %d node(s) in %s", c.Name, len(c.Nodes), time.Since(begin).Round(100*time.Millisecond))
	return c, nil
}

func (c *Cluster) newNode(i int) *Node {
	name := fmt.Sprintf("node%d", i)
	dir := filepath.Join(c.Dir, name)
	return &Node{
		Name: name, Dir: dir, NetNS: c.Name + "-" + name, IP: nodeIP(i), PodSubnet: podSubnet(i),
		CRISocket: filepath.Join(dir, "containerd.sock"), CNIBinDir: filepath.Join(dir, "cni", "bin"),
		CNIConfDir: filepath.Join(dir, "cni", "net.d"), IPAMDir: filepath.Join(dir, "cni", "ipam"),
		CgroupRoot: c.Name + "-" + name, ClusterNetwork: c.clusterNetwork(),
	}
}

// Clientset is an admin client of the cluster.
func (c *Cluster) Clientset() kubernetes.Interface { return c.Kube.Clientset() }

func (c *Cluster) waitReady(n *Node, timeout time.Duration) error {
	cs := c.Clientset()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !n.kubelet.running() {
			return n.kubelet.failure("exited")
		}
		node, err := cs.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
		if err == nil {
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					progressf("%s Ready (kubelet %s)", n.Name, node.Status.NodeInfo.KubeletVersion)
					return nil
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return n.kubelet.failure("not Ready after " + timeout.String())
}

// Stop stops the controllers (so no ReplicaSet or DaemonSet replaces a
// pod), deletes every pod, tears the nodes down, stops the API server and
// removes the netns. It does not remove Dir: a test's TempDir goes by
// itself, and hack/node removes its own.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.controllers) - 1; i >= 0; i-- {
		c.controllers[i].stop(5 * time.Second)
	}
	if c.Kube != nil && len(c.Nodes) > 0 {
		progressf("deleting every pod")
		if err := deleteAllPods(c.Clientset()); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range c.Nodes {
		progressf("%s: stopping", n.Name)
		if err := n.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Kube != nil {
		c.Kube.Stop()
	}
	c.stopFabricEnds()
	if c.IPAMEtcd != nil {
		c.IPAMEtcd.Stop() // after the nodes: their pods' DELs release addresses in it
	}
	for _, n := range c.Nodes {
		if err := delNetns(n.NetNS); err != nil {
			errs = append(errs, err)
		}
	}
	if err := delNetns(c.FabricNS); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func deleteAllPods(cs kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list namespaces to delete pods: %w", err)
	}
	for _, ns := range nss.Items {
		if err := cs.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			return fmt.Errorf("delete pods in %s: %w", ns.Name, err)
		}
	}
	return nil
}

// buildPause builds images/pause statically and packs it as a
// docker-archive tarball for ctr import.
func buildPause(out string) (string, error) {
	progressf("pause image %s", PauseImage)
	bin := filepath.Join(filepath.Dir(out), "pause")
	if err := image.GoBuild(filepath.Dir(out), "", "./images/pause"); err != nil {
		return "", fmt.Errorf("build pause: %w", err)
	}
	spec := image.Spec{Ref: PauseImage, Aliases: []string{UpstreamPauseImage}, Files: []image.File{{Src: bin, Path: "/pause", Mode: 0o755}}, Entrypoint: []string{"/pause"}}
	if err := image.WriteTarball(spec, out); err != nil {
		return "", err
	}
	return out, os.Remove(bin)
}

func clientForKube(k *testenv.Kube) (*http.Client, error) { return rest.HTTPClientFor(k.AdminConfig()) }

// clusterPrefix starts every cluster's name, and so every netns and cgroup
// it makes: teardown touches nothing else.
const clusterPrefix = "mcni-"

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
