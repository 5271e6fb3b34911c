package testenv

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"
)

// WhereaboutsControlLoop is Whereabouts' node agent, ip-control-loop, run
// as its daemonset runs it: it releases the allocations of deleted pods
// and runs the reconciler on its cron schedule.
type WhereaboutsControlLoop struct {
	LogFile string
	server
}

// StartWhereaboutsControlLoop runs ip-control-loop for the node nodeName
// with the identity of kubeconfig (ReferenceCluster.WhereaboutsKubeconfig),
// with its files in dir. The binary reads its identity only from the
// in-cluster paths (/var/run/secrets/kubernetes.io/serviceaccount) and its
// schedule from /cron-schedule/config, so it runs chrooted into dir/root,
// which holds those files, its daemonset's /host mount of the node's
// whereabouts.d, and the NADs' kubeconfig under /host as on a node. Call
// Stop when done.
func StartWhereaboutsControlLoop(dir, nodeName, kubeconfig string) (*WhereaboutsControlLoop, error) {
	bin, err := WhereaboutsControlLoopBinary()
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load Whereabouts' kubeconfig %s: %w", kubeconfig, err)
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("API server address %q in %s: %w", cfg.Host, kubeconfig, err)
	}
	ca, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read the API server's CA for ip-control-loop: %w", err)
	}
	root := filepath.Join(dir, "root")
	sa := filepath.Join(root, "var", "run", "secrets", "kubernetes.io", "serviceaccount")
	hostConf := filepath.Join(root, "host", "etc", "cni", "net.d", "whereabouts.d")
	copies := []struct{ src, dst string }{
		{bin, filepath.Join(root, "ip-control-loop")},
		{kubeconfig, filepath.Join(hostConf, "whereabouts.kubeconfig")},
		{kubeconfig, filepath.Join(root, "host", kubeconfig)},
	}
	for _, c := range copies {
		if err := copyFileAtomic(c.src, c.dst, 0o700); err != nil {
			return nil, fmt.Errorf("prepare ip-control-loop's root: %w", err)
		}
	}
	files := map[string][]byte{
		filepath.Join(sa, "token"):                     []byte(cfg.BearerToken),
		filepath.Join(sa, "ca.crt"):                    ca,
		filepath.Join(sa, "namespace"):                 []byte("kube-system"),
		filepath.Join(root, "cron-schedule", "config"): []byte("30 4 * * *"),
	}
	for path, data := range files {
		if err := writeFileAtomic(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("prepare ip-control-loop's root: %w", err)
		}
	}
	// The kubeconfig path as the install script writes it: the container's
	// /host prefix stripped.
	if _, err := writeWhereaboutsConf(hostConf, "/etc/cni/net.d/whereabouts.d/whereabouts.kubeconfig"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return nil, err
	}
	c := &WhereaboutsControlLoop{LogFile: filepath.Join(dir, "ip-control-loop.log")}
	c.server = server{logFile: c.LogFile, setup: func(cmd *exec.Cmd) {
		cmd.Env = []string{"KUBERNETES_SERVICE_HOST=" + u.Hostname(), "KUBERNETES_SERVICE_PORT=" + u.Port(),
			"NODENAME=" + nodeName, "WHEREABOUTS_NAMESPACE=kube-system"}
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	}}
	if err := c.start("/ip-control-loop", []string{"-log-level", "debug"}); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop kills ip-control-loop; stopping twice is harmless.
func (c *WhereaboutsControlLoop) Stop() { c.stop() }

// Running reports whether ip-control-loop is alive.
func (c *WhereaboutsControlLoop) Running() bool { return c.running() }

// PID is ip-control-loop's process ID, for its peak RSS; 0 when stopped.
func (c *WhereaboutsControlLoop) PID() int {
	if !c.running() {
		return 0
	}
	return c.cmd.Process.Pid
}
