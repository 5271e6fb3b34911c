package realnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/meta-cni/meta-cni/internal/testenv"
)

// Node is one kubelet with its containerd, both in the node's netns and in
// one private mount namespace held open by a "holder" process.
type Node struct {
	Name       string // the Kubernetes node name
	Dir        string
	NetNS      string // name under /run/netns
	IP         string // eth0's address on the fabric
	PodSubnet  string
	CRISocket  string // containerd's socket, for ctr -a and crictl
	CNIBinDir  string
	CNIConfDir string
	IPAMDir    string // host-local's files of the cluster network
	CgroupRoot string // the cgroup every pod of this node lives under
	// ClusterNetwork names the cluster network's conflist (its "name", and
	// its file 10-<name>.conflist in CNIConfDir).
	ClusterNetwork string
	MntNS          string // the holder's mount namespace, "mnt:[inode]"

	holder, containerd, kubelet *proc
	kubeProxy                   *proc
	forwards                    []*testenv.Forward
}

func (n *Node) path(elem ...string) string { return filepath.Join(append([]string{n.Dir}, elem...)...) }

// defaultCNIDirs are the bin and conf dirs a runtime and the chart use by
// default; inside a node they are its CNIBinDir and CNIConfDir.
var defaultCNIDirs = [2]string{"/opt/cni/bin", "/etc/cni/net.d"}

// holderPID is the mount-namespace holder's process, 0 before it starts.
func (n *Node) holderPID() int {
	if n.holder == nil {
		return 0
	}
	return n.holder.pid()
}

// PIDs are the processes this node started directly.
func (n *Node) PIDs() []int {
	var pids []int
	for _, p := range []*proc{n.holder, n.containerd, n.kubelet, n.kubeProxy} {
		if p != nil {
			pids = append(pids, p.pid())
		}
	}
	return pids
}

// start brings the node up in its netns (already made): the runtime, then
// the kubelet. relayed are loopback URLs of the host (etcd-ipam's etcd)
// the node reaches at the same address; images are imported in order, the
// pause image first.
func (n *Node) start(kubeURL, kubeconfig string, relayed, images []string) error {
	if err := n.startRuntime(kubeURL, relayed, images); err != nil {
		return err
	}
	if err := n.startKubelet(kubeconfig); err != nil {
		return err
	}
	return n.startKubeProxy(kubeconfig)
}

// startRuntime starts the holder and its mounts, the relays, containerd,
// and imports the images.
func (n *Node) startRuntime(kubeURL string, relayed, images []string) error {
	for _, d := range []string{n.CNIBinDir, n.CNIConfDir, n.IPAMDir, n.path("run"), n.path("var-lib"), n.path("var-log"), n.path("pod-logs"), n.path("kubelet")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	if err := n.installCNI(); err != nil {
		return err
	}
	progressf("%s: private mount namespace in netns %s", n.Name, n.NetNS)
	if err := n.startHolder(); err != nil {
		return err
	}
	netns, err := ns.GetNS(netnsPath(n.NetNS))
	if err != nil {
		return fmt.Errorf("node %s: open netns: %w", n.Name, err)
	}
	defer netns.Close()
	if err := n.relay(netns, kubeURL, relayed); err != nil {
		return err
	}
	progressf("%s: containerd on %s", n.Name, n.CRISocket)
	cfg := n.path("containerd.toml")
	if err := os.WriteFile(cfg, []byte(n.containerdConfig()), 0o644); err != nil {
		return err
	}
	if n.containerd, err = startProc(n.Name+" containerd", n.path("containerd.log"), n.inNode("containerd", "--config", cfg)...); err != nil {
		return err
	}
	if err := n.waitCtr(30 * time.Second); err != nil {
		return err
	}
	for _, tar := range images {
		progressf("%s: importing %s", n.Name, filepath.Base(tar))
		if out, err := exec.Command("ctr", "-a", n.CRISocket, "-n", "k8s.io", "images", "import", tar).CombinedOutput(); err != nil {
			return fmt.Errorf("node %s: import image %s: %w: %s", n.Name, tar, err, out)
		}
	}
	return nil
}

// relay starts the node's relays to the host: the kubelet and kube-proxy
// dial the API server's loopback address, etcd-ipam the IPAM etcd's
// loopback URLs. (Pods and the chart's daemon reach the API server at the
// "kubernetes" ClusterIP through kube-proxy: see ControlPlaneIP.)
func (n *Node) relay(netns ns.NetNS, kubeURL string, relayed []string) error {
	kube := strings.TrimPrefix(kubeURL, "https://")
	pairs := [][2]string{{kube, kube}}
	for _, u := range relayed {
		hostPort := u[strings.Index(u, "://")+3:]
		pairs = append(pairs, [2]string{hostPort, hostPort})
	}
	for _, p := range pairs {
		f, err := testenv.ForwardIntoNSTo(netns, p[0], p[1])
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		n.forwards = append(n.forwards, f)
	}
	return nil
}

func (n *Node) startKubelet(kubeconfig string) error {
	progressf("%s: kubelet (node IP %s, pods %s, cgroup /%s)", n.Name, n.IP, n.PodSubnet, n.CgroupRoot)
	if err := makeCgroups(n.CgroupRoot); err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	kcfg := n.path("kubelet.yaml")
	if err := os.WriteFile(kcfg, []byte(n.kubeletConfig()), 0o644); err != nil {
		return err
	}
	kubelet, err := testenv.KubeletBinary()
	if err != nil {
		return err
	}
	n.kubelet, err = startProc(n.Name+" kubelet", n.path("kubelet.log"), n.inNode(kubelet,
		"--config="+kcfg, "--kubeconfig="+kubeconfig, "--root-dir="+n.path("kubelet"),
		"--hostname-override="+n.Name, "--node-ip="+n.IP, "--v=1")...)
	return err
}

// inNode prefixes argv so it runs in the holder's mount and net namespaces.
func (n *Node) inNode(argv ...string) []string {
	return append([]string{"nsenter", fmt.Sprintf("--target=%d", n.holder.pid()), "--mount", "--net", "--"}, argv...)
}

// startHolder starts the process that owns the node's private mount
// namespace. Inside it: the kubelet's sysctl values over the host's, and
// the node's own /run and /var/lib, so containerd's shim sockets and the
// CNI result cache stay in the node's dir.
func (n *Node) startHolder() error {
	mounts, err := n.sysctlMounts()
	if err != nil {
		return fmt.Errorf("node %s: sysctl files: %w", n.Name, err)
	}
	// The CNI dirs at their default paths too, so a chart installed with
	// its defaults writes into this node's own dirs and its conflist names
	// the paths a real node has. The mount points are made on the host if
	// missing (empty dirs, as a containerd host has) and stay: another
	// cluster on the machine may be using them at the same time.
	mounts = append(mounts,
		"mkdir -p "+strings.Join(defaultCNIDirs[:], " "),
		fmt.Sprintf("mount --bind %q %s", n.CNIBinDir, defaultCNIDirs[0]),
		fmt.Sprintf("mount --bind %q %s", n.CNIConfDir, defaultCNIDirs[1]),
		fmt.Sprintf("mount --bind %q /run", n.path("run")),
		fmt.Sprintf("mount --bind %q /var/lib", n.path("var-lib")),
		// The plugins' log file (the chart's config.logFile) stays the node's.
		fmt.Sprintf("mount --bind %q /var/log", n.path("var-log")),
		"echo ready", "exec sleep infinity")
	n.holder, err = startProc(n.Name+" holder", n.path("holder.log"),
		"nsenter", "--net="+netnsPath(n.NetNS), "--",
		"unshare", "--mount", "--propagation", "private", "--", "sh", "-ec", strings.Join(mounts, "\n"))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(n.holder.logFile); strings.Contains(string(b), "ready") {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", n.holder.pid()))
			if err != nil {
				return fmt.Errorf("node %s: holder's mount namespace: %w", n.Name, err)
			}
			n.MntNS = link
			return nil
		}
		if !n.holder.running() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n.holder.failure("mount namespace not ready")
}

func (n *Node) waitCtr(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for ctx.Err() == nil {
		if !n.containerd.running() {
			return n.containerd.failure("exited")
		}
		if exec.CommandContext(ctx, "ctr", "-a", n.CRISocket, "version").Run() == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n.containerd.failure("not serving after " + timeout.String())
}

// installCNI links the reference plugins into the node's bin dir (a
// chart's installer later adds its own there) and writes the cluster
// network's conflist.
func (n *Node) installCNI() error {
	src, err := testenv.CNIPath()
	if err != nil {
		return err
	}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap", "macvlan", "static"} {
		if err := os.Symlink(filepath.Join(src, p), filepath.Join(n.CNIBinDir, p)); err != nil && !os.IsExist(err) {
			return fmt.Errorf("node %s: install CNI plugin %s: %w", n.Name, p, err)
		}
	}
	conf, err := n.clusterConflist()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.CNIConfDir, "10-"+n.ClusterNetwork+".conflist"), conf, 0o644)
}
