package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// metaCNI is meta-cni as its chart installs it: on each node the real
// meta-cni-daemon process, run from the rendered DaemonSet, installs the
// plugins and the conflist and serves the node API; the NAD chains
// macvlan with etcd-ipam and host-route.
type metaCNI struct {
	mu      sync.Mutex
	daemons map[string]*agent
	image   string // the image's /opt/meta-cni/bin
}

func newMetaCNI() *metaCNI { return &metaCNI{daemons: map[string]*agent{}} }

func (m *metaCNI) name() string { return "meta-cni" }

// ipamPrefix is the chart's ipam.etcdPrefix, which the NAD uses too.
const ipamPrefix = "/meta-cni/ipam"

// setup applies the chart's ServiceAccount, RBAC and etcd Secret, and
// lays out the image's plugin directory.
func (m *metaCNI) setup(c *cluster) error {
	ch, err := renderChart(filepath.Join(c.dir, "nodes", "any"), c.etcd.Endpoints())
	if err != nil {
		return err
	}
	objs, err := ch.clusterObjects()
	if err != nil {
		return err
	}
	if err := c.kube.EnsureNamespace(chartNamespace); err != nil {
		return err
	}
	if _, err := c.kube.Apply(objs); err != nil {
		return fmt.Errorf("apply the chart's objects: %w", err)
	}
	src, err := testenv.CNIPath()
	if err != nil {
		return err
	}
	m.image = filepath.Join(c.dir, "image", "opt", "meta-cni", "bin")
	if err := os.MkdirAll(m.image, 0o755); err != nil {
		return err
	}
	for _, b := range []string{"meta-cni", "etcd-ipam", "host-route"} {
		if err := copyFile(filepath.Join(src, b), filepath.Join(m.image, b)); err != nil {
			return err
		}
	}
	return nil
}

// install runs meta-cni-daemon on the node and waits for the conflist it
// installs and its node API socket.
func (m *metaCNI) install(c *cluster, n *node) error {
	ch, err := renderChart(n.root, c.etcd.Endpoints())
	if err != nil {
		return err
	}
	sa := ch.daemonSet.Spec.Template.Spec.ServiceAccountName
	expiry := int64(24 * 3600)
	tr, err := c.kube.Clientset().CoreV1().ServiceAccounts(chartNamespace).CreateToken(context.Background(), sa,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("node %s: token for ServiceAccount %s/%s: %w", n.name, chartNamespace, sa, err)
	}
	ca, err := os.ReadFile(c.kube.CAFile)
	if err != nil {
		return err
	}
	src, err := testenv.CNIPath()
	if err != nil {
		return err
	}
	p, err := ch.process(podInputs{
		dir:       n.path("/var/lib/kubelet/pods/meta-cni-daemon/volumes"),
		image:     map[string]string{"/opt/meta-cni/bin": m.image, "/usr/bin/meta-cni-daemon": filepath.Join(src, "meta-cni-daemon")},
		node:      n.name,
		namespace: chartNamespace,
		token:     []byte(tr.Status.Token),
		ca:        ca,
	})
	if err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	a, err := startAgent(n, "meta-cni-daemon", p)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.daemons[n.name] = a
	m.mu.Unlock()
	ready := []string{filepath.Join(n.confDir(), "00-meta-cni.conflist"), n.path("/run/meta-cni/node-api.sock")}
	return a.waitFiles(ready, 60*time.Second)
}

func (m *metaCNI) networkConfig(c *cluster, name string, p pool) string {
	eps, _ := json.Marshal(c.etcd.Endpoints())
	return fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [
  {"type": "macvlan", "master": %q, "mode": "bridge",
   "ipam": {"type": "etcd-ipam", "subnet": %q, "rangeStart": %q, "rangeEnd": %q, "gateway": %q,
            "etcd": {"endpoints": %s, "prefix": %q}}},
  {"type": "host-route", "hostInterface": %q, "serviceCIDRs": ["10.96.0.0/12"]}]}`,
		name, master, p.Subnet, p.First, p.Last, p.gateway(), eps, ipamPrefix, master)
}

// poolFullCode is etcd-ipam's "range full" (README, Error codes).
func (m *metaCNI) poolFullCode() string { return "100" }

func (m *metaCNI) poolFull(err error) bool { return err != nil && cniCode(err) == "100" }

func (m *metaCNI) underTest() bool { return true }

func (m *metaCNI) agentPID(n *node) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.daemons[n.name]; a != nil {
		return a.pid()
	}
	return 0
}

func (m *metaCNI) teardown(*cluster) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.daemons {
		a.stop(10 * time.Second)
	}
}

// agent is a node agent process, run in its node's netns.
type agent struct {
	name, log string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// startAgent runs p inside the node's netns (nsenter execs, so the pid is
// the agent's own); it dies with the test process.
func startAgent(n *node, name string, p *podProcess) (*agent, error) {
	a := &agent{name: n.name + " " + name, log: n.path("/var/log/pods/" + name + ".log"), exited: make(chan struct{})}
	if err := os.MkdirAll(filepath.Dir(a.log), 0o755); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	a.cmd = exec.Command("nsenter", append([]string{"--net=" + n.netns().Path(), "--"}, p.argv...)...)
	a.cmd.Env, a.cmd.Stdout, a.cmd.Stderr = p.env, logf, logf
	if err := testenv.StartDaemon(a.cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", a.name, err)
	}
	go func() {
		_ = a.cmd.Wait()
		logf.Close()
		close(a.exited)
	}()
	return a, nil
}

func (a *agent) pid() int { return a.cmd.Process.Pid }

func (a *agent) running() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// waitFiles waits until every path exists, failing early if the agent exits.
func (a *agent) waitFiles(paths []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		missing := ""
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				missing = p
				break
			}
		}
		if missing == "" {
			return nil
		}
		if !a.running() {
			return fmt.Errorf("%s exited before %s appeared; its log:\n%s", a.name, missing, tailFile(a.log))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not there after %s; its log:\n%s", a.name, missing, timeout, tailFile(a.log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM, as the kubelet does, then SIGKILL after grace.
func (a *agent) stop(grace time.Duration) {
	if !a.running() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(grace):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

func tailFile(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
