package soak

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// cluster is one control plane, the IPAM's three-member etcd, the fabric
// and the nodes, with one implementation installed on every node.
type cluster struct {
	dir    string
	scale  scale
	kube   *testenv.Kube
	etcd   *testenv.EtcdCluster
	fabric *testenv.Fabric
	nodes  []*node
	impl   implementation
}

// startCluster brings everything up, in dir; stop undoes it whatever
// state it got to.
func startCluster(dir string, sc scale, impl implementation) (c *cluster, err error) {
	c = &cluster{dir: dir, scale: sc, impl: impl}
	defer func() {
		if err != nil {
			c.stop()
			c = nil
		}
	}()
	progressf("control plane: kube-apiserver, and a three-member etcd for the IPAM")
	if c.kube, err = testenv.StartKube(filepath.Join(dir, "kube")); err != nil {
		return c, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		c.etcd, err = testenv.StartEtcdCluster(filepath.Join(dir, fmt.Sprint("ipam-etcd-", attempt)), 3, nil)
		if err == nil {
			break
		}
	}
	if err != nil {
		return c, fmt.Errorf("start the IPAM's etcd: %w", err)
	}
	if c.fabric, err = testenv.StartFabric(); err != nil {
		return c, err
	}
	progressf("%d nodes on the fabric", sc.Nodes)
	c.nodes = make([]*node, sc.Nodes)
	errs := make([]error, sc.Nodes)
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.nodes[i], errs[i] = startNode(c, i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	// The kubelets' registration: node agents look their Node up (the
	// reference's ip-control-loop refuses to start without it).
	for _, n := range c.nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip()}}}}
		if _, err := c.kube.Clientset().CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{}); err != nil {
			return c, fmt.Errorf("register node %s: %w", n.name, err)
		}
	}
	progressf("installing %s", impl.name())
	if err := impl.setup(c); err != nil {
		return c, fmt.Errorf("set up %s: %w", impl.name(), err)
	}
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = impl.install(c, n)
		}()
	}
	wg.Wait()
	return c, errors.Join(errs...)
}

// stop tears the cluster down: the node agents, the nodes' netns, the
// fabric, etcd and the control plane; the files stay in dir.
func (c *cluster) stop() {
	if c.impl != nil {
		c.impl.teardown(c)
	}
	for _, n := range c.nodes {
		if n != nil {
			n.close()
		}
	}
	if c.fabric != nil {
		c.fabric.Close()
	}
	if c.etcd != nil {
		c.etcd.Stop()
	}
	if c.kube != nil {
		c.kube.Stop()
	}
}

// progressf tells the person running `make soak` what the harness is
// doing; the full scale takes long enough to need it.
func progressf(format string, args ...any) {
	if testenv.Progress != nil {
		fmt.Fprintf(testenv.Progress, "    soak: "+format+"\n", args...)
	}
}
