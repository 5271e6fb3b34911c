package realnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A node's power: PowerOff is a power loss, Reboot a power loss followed by
// a boot on the same disks. Neither sends a CNI DEL: the runtime and the
// kubelet die at once, as they do when a machine loses power.

// Reboot is PowerOff then Boot: a power loss, and a boot on the same disks.
func (c *Cluster) Reboot(n *Node) error {
	if err := c.PowerOff(n); err != nil {
		return err
	}
	return c.Boot(n)
}

// PowerOff kills the node for good, as a power loss does: every process of
// it (kubelet, containerd, shims, pods, the mount-namespace holder) is
// SIGKILLed, its mount namespace and so every tmpfs, overlay and netns
// mount in it goes, and its netns goes with every link and route in it,
// the pods' netns dying with their processes; what lived on tmpfs is
// wiped (volatileDirs). Its Node object stays and turns NotReady; Boot
// brings it back, and Stop cleans up after it either way.
func (c *Cluster) PowerOff(n *Node) error {
	progressf("%s: power off", n.Name)
	for _, p := range []*proc{n.kubelet, n.kubeProxy, n.containerd} {
		p.kill()
	}
	killPIDs(func() []int { return shimPIDs(n.CRISocket) })
	killPIDs(func() []int { return cgroupPIDs(n.CgroupRoot) })
	killMntNS(n.holderPID(), n.MntNS)
	n.holder.kill()
	// The relays' listeners hold the netns open: closed first, or deleting
	// it would leave it alive with the uplink still on the fabric.
	for _, f := range n.forwards {
		f.Close()
	}
	n.forwards = nil
	var errs []error
	if err := removeCgroups(n.CgroupRoot); err != nil {
		errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
	}
	if err := delNetns(n.NetNS); err != nil {
		errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
	}
	if err := waitNoLink(c.FabricNS, n.Name, 10*time.Second); err != nil {
		errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
	}
	if err := n.wipeVolatile(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// volatileDirs are the node dirs a reboot empties: on a real node they
// live on /run, a tmpfs. Everything else in the node dir stays, as on a
// disk:
//   - containerd's root (images, snapshots, and the metadata holding every
//     sandbox and container, which the CRI recovers as not ready so the
//     kubelet stops them, running the CNI DEL, and starts new ones);
//   - the kubelet's root dir (pod dirs, checkpoints, pki), less its tmpfs
//     volumes, which were mounts in the dead mount namespace;
//   - the CNI bin and conf dirs (the chart's binaries and conflist);
//   - /var/lib: libcni's result cache (/var/lib/cni) and meta-cni's
//     attachment cache (/var/lib/meta-cni), and host-local's data dir;
//   - the logs and the sysctl files.
//
// The pods' netns mount points are in containerd's state dir
// (netns_mounts_under_state_dir), and the netns went with their processes.
func (n *Node) volatileDirs() []string {
	return []string{
		n.path("run"),                 // the node's /run: shim sockets, runc state, meta-cni's runDir
		n.path("containerd", "state"), // /run/containerd on a real node: tasks, fifos, netns mount points
	}
}

// wipeVolatile empties volatileDirs, keeping the dirs themselves as a
// fresh tmpfs would be. Nothing is mounted there any more: every mount was
// in the node's dead mount namespace.
func (n *Node) wipeVolatile() error {
	for _, d := range n.volatileDirs() {
		entries, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("node %s: wipe %s: %w", n.Name, d, err)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(d, e.Name())); err != nil {
				return fmt.Errorf("node %s: wipe %s: %w", n.Name, d, err)
			}
		}
	}
	return nil
}

// Boot brings a powered-off node up again: a fresh node netns configured
// as at the first boot, a fresh mount namespace, containerd, the kubelet
// and kube-proxy on the same persistent dirs. It returns once the kubelet
// has posted Ready since the boot and kube-proxy has written its rules
// (the node's own ClusterIP traffic, the chart's daemon's API access
// among it, needs them); the node's pods are then the kubelet's to bring
// back.
func (c *Cluster) Boot(n *Node) error {
	begin := time.Now()
	if err := c.bootRuntime(n, c.Kube.URL, c.IPAMEtcd.Endpoints()); err != nil {
		return err
	}
	if err := n.startKubelet(c.Kubeconfig); err != nil {
		return err
	}
	if err := n.startKubeProxy(c.Kubeconfig); err != nil {
		return err
	}
	if err := c.waitReadySince(n, begin, 90*time.Second); err != nil {
		return err
	}
	return n.waitKubeProxy(60 * time.Second)
}

// bootRuntime brings up the node's netns as the first boot made it, then
// the holder, the relays and containerd, with no image import: containerd's
// root kept them.
func (c *Cluster) bootRuntime(n *Node, kubeURL string, relayed []string) error {
	i := c.index(n)
	if i < 0 {
		return fmt.Errorf("node %s is not in cluster %s", n.Name, c.Name)
	}
	progressf("%s: boot", n.Name)
	if err := addNodeNet(c.FabricNS, n.NetNS, n.Name, i, len(c.Nodes)); err != nil {
		return err
	}
	// The holder's readiness is read from its log: the last boot's "ready"
	// must not count.
	if err := os.Remove(n.path("holder.log")); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	return n.startRuntime(kubeURL, relayed, nil)
}

func (c *Cluster) index(n *Node) int {
	for i, m := range c.Nodes {
		if m == n {
			return i
		}
	}
	return -1
}

// waitReadySince waits until n's Ready condition is true and was posted by
// the kubelet after since: before that, the Node object still shows what
// the previous boot's kubelet last wrote.
func (c *Cluster) waitReadySince(n *Node, since time.Time, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := "no answer"
	for ctx.Err() == nil {
		if !n.kubelet.running() {
			return n.kubelet.failure("exited")
		}
		node, err := c.Clientset().CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			time.Sleep(250 * time.Millisecond)
			continue
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type != corev1.NodeReady {
				continue
			}
			last = fmt.Sprintf("Ready=%s, heartbeat %s", cond.Status, cond.LastHeartbeatTime.Format(time.RFC3339))
			// Heartbeats have second resolution.
			if cond.Status == corev1.ConditionTrue && !cond.LastHeartbeatTime.Time.Before(since.Truncate(time.Second)) {
				progressf("%s Ready again %s after boot", n.Name, time.Since(since).Round(100*time.Millisecond))
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return n.kubelet.failure(fmt.Sprintf("not Ready since boot after %s (%s)", timeout, last))
}

// waitNoLink waits until the fabric has no link named port: a node's
// uplink goes when its netns is destroyed, which the kernel finishes
// asynchronously, and a boot re-adds it under the same name.
func waitNoLink(fabric, port string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for exec.Command("ip", "-n", fabric, "link", "show", port).Run() == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("uplink %s still on fabric %s %s after its netns was deleted: something holds the netns open", port, fabric, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// kill is a power loss for one process: SIGKILL, no grace.
func (p *proc) kill() {
	if p == nil || !p.running() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}
