package realnode

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/meta-cni/meta-cni/internal/testenv"
)

// ControlPlaneIP is the API server's address on the fabric, where a
// control-plane host sits on a real underlay. The API server advertises
// it, so the "kubernetes" Service's endpoints are ControlPlaneIP:<its
// port>, and kube-proxy on every node DNATs the ClusterIP there; a relay
// in the fabric netns carries it to the API server on the machine's
// loopback. (A loopback endpoint cannot work: Endpoints refuse 127/8, and
// a pod's 127.0.0.1 is its own.)
const ControlPlaneIP = "10.250.0.1"

// startAPIServer starts etcd and kube-apiserver advertising ControlPlaneIP
// and reaching the nodes through the egress proxy (egress.go), by their
// InternalIP: the kubelets' --node-ip on the fabric.
func (c *Cluster) startAPIServer() error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("create cluster dir: %w", err)
	}
	socket := filepath.Join(c.Dir, "egress.sock")
	var err error
	if c.egress, err = startEgressProxy(socket, netnsPath(c.FabricNS)); err != nil {
		return err
	}
	cfg := filepath.Join(c.Dir, "egress-selector.yaml")
	if err := os.WriteFile(cfg, []byte(egressConfig(socket)), 0o644); err != nil {
		return fmt.Errorf("write egress selector config: %w", err)
	}
	c.Kube, err = testenv.StartNodeKube(filepath.Join(c.Dir, "kube"),
		"--advertise-address="+ControlPlaneIP,
		"--endpoint-reconciler-type=lease",
		"--kubelet-preferred-address-types=InternalIP",
		"--egress-selector-config-file="+cfg)
	return err
}

// joinFabric puts the control plane on the fabric: ControlPlaneIP on its
// bridge, the relay to the API server behind it, and a route to each
// node's pod subnet via that node, so pods reach the API server through
// the ClusterIP without being masqueraded (as a control-plane host on
// flannel's host-gw has).
func (c *Cluster) joinFabric(nodes int) error {
	cmds := [][]string{{"ip", "-n", c.FabricNS, "addr", "add", ControlPlaneIP + "/24", "dev", fabricBridge}}
	for i := 0; i < nodes; i++ {
		cmds = append(cmds, []string{"ip", "-n", c.FabricNS, "route", "add", podSubnet(i), "via", nodeIP(i)})
	}
	for _, argv := range cmds {
		if err := run(argv...); err != nil {
			return fmt.Errorf("put the control plane on fabric netns %s: %w", c.FabricNS, err)
		}
	}
	netns, err := ns.GetNS(netnsPath(c.FabricNS))
	if err != nil {
		return fmt.Errorf("open fabric netns %s: %w", c.FabricNS, err)
	}
	defer netns.Close()
	local := strings.TrimPrefix(c.Kube.URL, "https://")
	_, port, _ := strings.Cut(local, ":")
	if c.apiRelay, err = testenv.ForwardIntoNSTo(netns, ControlPlaneIP+":"+port, local); err != nil {
		return fmt.Errorf("relay the API server onto the fabric: %w", err)
	}
	return nil
}

// stopFabricEnds closes what joinFabric and startAPIServer opened.
func (c *Cluster) stopFabricEnds() {
	if c.apiRelay != nil {
		c.apiRelay.Close()
	}
	if c.underlayEtcd != nil {
		c.underlayEtcd.Close()
	}
	c.egress.Close()
}
