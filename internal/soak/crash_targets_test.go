package soak

import (
	"fmt"
	"net"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// crashTarget is one plugin the crash scenario kills, by the role it
// plays in the chain, so each implementation's row sits beside its peer.
type crashTarget struct {
	role, binary string
}

// crashable is what the crash scenario needs beyond implementation: which
// plugins to kill, how to kill -9 and restart the node agent as the
// harness started it, and whether the runtime's CNI GC reaches it.
type crashable interface {
	crashTargets() []crashTarget
	agentName() string
	killAgent(n *node) error
	agentAlive(n *node) bool
	restartAgent(c *cluster, n *node) error
	// gcNote says how far the runtime's CNI GC reaches it, for the table.
	gcNote() string
}

func (m *metaCNI) crashTargets() []crashTarget {
	return []crashTarget{{"meta-plugin", "meta-cni"}, {"ipam", "etcd-ipam"}, {"chained", "host-route"}}
}

func (m *metaCNI) agentName() string { return "meta-cni-daemon" }

func (m *metaCNI) killAgent(n *node) error {
	m.mu.Lock()
	a := m.daemons[n.name]
	m.mu.Unlock()
	if a == nil || !a.running() {
		return fmt.Errorf("node %s: meta-cni-daemon is not running", n.name)
	}
	if err := a.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("node %s: kill meta-cni-daemon: %w", n.name, err)
	}
	<-a.exited
	return nil
}

func (m *metaCNI) agentAlive(n *node) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.daemons[n.name] != nil && m.daemons[n.name].running()
}

// restartAgent starts the daemon as install did and waits until its node
// API answers: the killed one's socket file is still there, so only a
// connection tells the new daemon is serving.
func (m *metaCNI) restartAgent(c *cluster, n *node) error {
	if err := m.install(c, n); err != nil {
		return err
	}
	sock := n.path("/run/meta-cni/node-api.sock")
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s: restarted meta-cni-daemon's node API %s: %w", n.name, sock, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *metaCNI) gcNote() string { return "" }

func (r *reference) crashTargets() []crashTarget {
	return []crashTarget{{"meta-plugin", "multus"}, {"ipam", "whereabouts"}, {"chained", "host-route"}}
}

func (r *reference) agentName() string { return "ip-control-loop" }

// killAgent: testenv stops ip-control-loop with SIGKILL.
func (r *reference) killAgent(n *node) error {
	r.mu.Lock()
	l := r.loops[n.name]
	r.mu.Unlock()
	if l == nil || !l.Running() {
		return fmt.Errorf("node %s: ip-control-loop is not running", n.name)
	}
	l.Stop()
	return nil
}

func (r *reference) agentAlive(n *node) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loops[n.name] != nil && r.loops[n.name].Running()
}

func (r *reference) restartAgent(c *cluster, n *node) error {
	loop, err := testenv.StartWhereaboutsControlLoop(n.path("/var/lib/ip-control-loop"), n.name, r.cluster.WhereaboutsKubeconfig)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	r.mu.Lock()
	r.loops[n.name] = loop
	r.mu.Unlock()
	return nil
}

// gcNote: Multus thin v4.2.3's GC (CmdGC) forwards GC to its cluster
// network only, with the attachments of its own cache, not the runtime's;
// the additional networks, Whereabouts among them, get none, and
// Whereabouts registers no GC verb.
func (r *reference) gcNote() string { return "GC reaches the cluster network only" }
