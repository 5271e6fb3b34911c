package soak

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// A node's reboot as internal/testenv/realnode's PowerOff and Boot play it
// on a real node: what lives in memory or on tmpfs goes, the disk stays.
// Gone: the node agent, every sandbox (its netns and so its links, the
// host veths with them), the node's own netns (cni0, host routes,
// nftables tables) and /run (the node API's socket and network-status
// journal). Kept: /var/lib (libcni's result cache, host-local's leases,
// meta-cni's attachment records, which are on disk by design so DEL and GC
// need no API server), /etc and /opt (the conflist, the credentials, the
// binaries) and the logs.

// agentKiller is an implementation whose node agent a power loss can kill
// (crash_targets_test.go has both implementations').
type agentKiller interface {
	killAgent(n *node) error
	agentAlive(n *node) bool
}

// volatileDirs are what a reboot empties on a node: its tmpfs.
func (n *node) volatileDirs() []string { return []string{n.path("/run")} }

// powerOff is a power loss on n, with no CNI DEL for any of its pods; the
// pods' sandboxes are dead afterwards (not live, no netns), their
// attachments left for the runtime's GC or the IPAM's reconciler.
func powerOff(c *cluster, n *node, pods []*podRun) error {
	k, ok := c.impl.(agentKiller)
	if !ok {
		return fmt.Errorf("%s cannot kill its node agent", c.impl.name())
	}
	if k.agentAlive(n) {
		if err := k.killAgent(n); err != nil {
			return err
		}
	}
	for _, p := range pods {
		if p.node != n {
			continue
		}
		if p.netns != nil {
			testenv.RemoveNS(p.netns)
			p.netns = nil
		}
		p.live = false
	}
	n.close()
	n.forwards, n.tn = nil, nil
	for _, d := range n.volatileDirs() {
		entries, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("node %s: wipe %s: %w", n.name, d, err)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(d, e.Name())); err != nil {
				return fmt.Errorf("node %s: wipe %s: %w", n.name, d, err)
			}
		}
	}
	return nil
}

// boot brings n back as its first boot made it: a fresh netns on the
// fabric with its address and relays, then its node agent started as the
// DaemonSet starts it at boot, which installs again. It returns how long
// the agent took to be ready.
func boot(c *cluster, n *node) (time.Duration, error) {
	tn, err := c.fabric.StartNode(n.path("/tmp"), master)
	if err != nil {
		return 0, fmt.Errorf("node %s: boot: %w", n.name, err)
	}
	n.tn = tn
	if err := n.setup(c); err != nil {
		return 0, fmt.Errorf("node %s: boot: %w", n.name, err)
	}
	start := time.Now()
	if err := c.impl.install(c, n); err != nil {
		return 0, fmt.Errorf("node %s: boot: %w", n.name, err)
	}
	return time.Since(start), nil
}

// down says whether n is powered off.
func (n *node) down() bool { return n.tn == nil }

// rebootOnCleanup makes sure n is up when the test ends, whatever failed,
// since the scenarios after it share the cluster.
func rebootOnCleanup(t testing.TB, c *cluster, n *node) {
	t.Cleanup(func() {
		if !n.down() {
			return
		}
		if _, err := boot(c, n); err != nil {
			t.Errorf("bring node %s back: %v", n.name, err)
		}
	})
}

// newSandbox gives a pod whose sandbox died the container ID of the one
// the kubelet starts after the reboot: same pod object, new sandbox.
func (p *podRun) newSandbox() {
	p.baseID += "-boot"
	p.rt.ContainerID = p.baseID
	for i, a := range p.rt.Args {
		if a[0] == "K8S_POD_INFRA_CONTAINER_ID" {
			p.rt.Args[i][1] = p.baseID
		}
	}
}

// kill is a power loss for the agent: SIGKILL, no grace.
func (a *agent) kill() {
	if !a.running() {
		return
	}
	_ = a.cmd.Process.Kill()
	<-a.exited
}
