package soak

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// The fabric's addressing: nodes on nodeNet, one cluster network /24 per
// node, and the macvlan pods on their own subnet of the same L2.
const (
	master       = "eth0"
	nodeNetFmt   = "10.250.0.%d"
	podSubnetFmt = "10.244.%d.0/24"
	clusterName  = "cbr0"
)

// node is one simulated Kubernetes node: a netns on the fabric, and a
// directory standing for its root filesystem, which the chart's paths are
// set under (cni.binDir, cni.confDir, ...), as a user sets them.
type node struct {
	name  string
	index int
	tn    *testenv.Node
	root  string
	// kubelet bounds the node's concurrent CNI calls.
	kubelet  chan struct{}
	forwards []*testenv.Forward
}

func (n *node) path(p string) string { return filepath.Join(n.root, p) }
func (n *node) binDir() string       { return n.path("/opt/cni/bin") }
func (n *node) confDir() string      { return n.path("/etc/cni/net.d") }
func (n *node) ip() string           { return fmt.Sprintf(nodeNetFmt, 10+n.index) }
func (n *node) podSubnet() string    { return fmt.Sprintf(podSubnetFmt, n.index) }
func (n *node) netns() ns.NetNS      { return n.tn.NS }

// clusterDataDir is host-local's store for the cluster network.
func (n *node) clusterDataDir() string { return n.path("/var/lib/cni/networks") }

// cni is the runtime's libcni on this node: the node's bin dir, and its
// result cache under the node's /var/lib/cni.
func (n *node) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir([]string{n.binDir()}, n.path("/var/lib/cni/results"), nil)
}

// runtimeConflist is the conflist a runtime loads: the first conf file of
// the conf dir by name, as containerd and CRI-O pick it.
func (n *node) runtimeConflist() (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(n.confDir(), []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, fmt.Errorf("node %s: read conf dir: %w", n.name, err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("node %s: no conf in %s", n.name, n.confDir())
	}
	if strings.HasSuffix(files[0], ".conflist") {
		return libcni.ConfListFromFile(files[0])
	}
	conf, err := libcni.ConfFromFile(files[0])
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromConf(conf)
}

// startNode builds node i on the fabric: its uplink address, the
// "kubernetes" Service's ClusterIP relayed to the API server (kube-proxy's
// job), the IPAM etcd's members relayed at their loopback addresses, IP
// forwarding on, the reference plugins and the cluster network's conflist
// (bridge + host-local) in its CNI dirs.
func startNode(c *cluster, i int) (*node, error) {
	n := &node{name: fmt.Sprintf("soak-node-%d", i), index: i, kubelet: make(chan struct{}, perNodeConcurrency)}
	n.root = filepath.Join(c.dir, "nodes", n.name)
	var err error
	if n.tn, err = c.fabric.StartNode(n.path("/tmp"), master); err != nil {
		return nil, fmt.Errorf("node %s: %w", n.name, err)
	}
	if err := n.setup(c); err != nil {
		n.close()
		return nil, fmt.Errorf("node %s: %w", n.name, err)
	}
	return n, nil
}

func (n *node) setup(c *cluster) error {
	for _, d := range []string{n.binDir(), n.confDir(), n.clusterDataDir(), n.path("/tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if _, err := testenv.AddAddress(n.netns(), master, n.ip()+"/24"); err != nil {
		return err
	}
	if _, err := testenv.AddAddress(n.netns(), "lo", testenv.KubeServiceIP+"/32"); err != nil {
		return err
	}
	err := n.netns().Do(func(ns.NetNS) error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
	})
	if err != nil {
		return fmt.Errorf("ip_forward: %w", err)
	}
	// The API server's own loopback address too, which the kubeconfigs of
	// testenv.ServiceAccountKubeconfig name (the reference install's).
	kube := strings.TrimPrefix(c.kube.URL, "https://")
	relays := [][2]string{{testenv.KubeServiceIP + ":443", kube}, {kube, kube}}
	for _, ep := range c.etcd.Endpoints() {
		hostPort := strings.TrimPrefix(ep, "http://")
		relays = append(relays, [2]string{hostPort, hostPort})
	}
	for _, r := range relays {
		f, err := testenv.ForwardIntoNSTo(n.netns(), r[0], r[1])
		if err != nil {
			return err
		}
		n.forwards = append(n.forwards, f)
	}
	src, err := testenv.CNIPath()
	if err != nil {
		return err
	}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap", "macvlan"} {
		// A node that boots again finds them on its disk.
		if err := os.Remove(filepath.Join(n.binDir(), p)); err != nil && !os.IsNotExist(err) {
			return err
		}
		if err := os.Symlink(filepath.Join(src, p), filepath.Join(n.binDir(), p)); err != nil {
			return fmt.Errorf("install plugin %s: %w", p, err)
		}
	}
	conf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true,
  "ipam": {"type": "host-local", "subnet": %q, "dataDir": %q}}]}`, clusterName, n.podSubnet(), n.clusterDataDir())
	return os.WriteFile(filepath.Join(n.confDir(), "10-cluster.conflist"), []byte(conf), 0o644)
}

// close removes the node's netns and relays; its files stay with the
// cluster's dir.
func (n *node) close() {
	for _, f := range n.forwards {
		f.Close()
	}
	if n.tn != nil {
		n.tn.Close()
	}
}
