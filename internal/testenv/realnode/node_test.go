package realnode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// TestRuntimeStaysInsideTheNode starts one node's containerd without a
// kubelet and proves the isolation the real-node tests rely on: containerd
// runs in the node's netns and a mount namespace of its own, the host's
// sysctls and /run are untouched, the pause image is imported, and the
// teardown leaves nothing.
func TestRuntimeStaysInsideTheNode(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "containerd")
	sysctlsBefore := readTunables(t)
	_, runContainerdErr := os.Stat("/run/containerd")

	c, n, _, stop := runtimeNode(t)

	pid := n.containerd.pid()
	if got, want := nsOf(t, pid, "net"), nsOfPath(t, netnsPath(n.NetNS)); got != want {
		t.Errorf("containerd's netns is %s, want the node's %s", got, want)
	}
	if got := nsOf(t, pid, "mnt"); got != n.MntNS || got == nsOf(t, os.Getpid(), "mnt") {
		t.Errorf("containerd's mount namespace is %s, want the holder's %s (not the host's)", got, n.MntNS)
	}
	out, err := exec.Command("ctr", "-a", n.CRISocket, "-n", "k8s.io", "images", "ls", "-q").Output()
	if err != nil || !strings.Contains(string(out), PauseImage) {
		t.Errorf("pause image %s not imported: %v %s", PauseImage, err, out)
	}
	// Inside the node, the kubelet's values; outside, the host's own.
	inside, err := exec.Command("nsenter", fmt.Sprintf("--target=%d", n.holder.pid()), "--mount", "cat", "/proc/sys/vm/overcommit_memory").Output()
	if err != nil || strings.TrimSpace(string(inside)) != kernelTunables["vm/overcommit_memory"] {
		t.Errorf("vm.overcommit_memory inside the node = %q (%v), want the kubelet's %s", inside, err, kernelTunables["vm/overcommit_memory"])
	}

	// The default CNI conf dir, inside the node, is the node's own.
	conf, err := exec.Command("nsenter", fmt.Sprintf("--target=%d", n.holder.pid()), "--mount", "ls", defaultCNIDirs[1]).Output()
	if err != nil || strings.TrimSpace(string(conf)) != "10-cluster.conflist" {
		t.Errorf("%s inside the node lists %q (%v), want the node's own 10-cluster.conflist", defaultCNIDirs[1], conf, err)
	}

	state := c.State()
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := Leaks(state); err != nil {
		t.Errorf("left on the machine:\n%v", err)
	}
	for key, v := range readTunables(t) {
		if v != sysctlsBefore[key] {
			t.Errorf("host sysctl %s changed from %s to %s", key, sysctlsBefore[key], v)
		}
	}
	if _, err := os.Stat("/run/containerd"); os.IsNotExist(runContainerdErr) && err == nil {
		t.Error("/run/containerd appeared on the host: the shims' sockets escaped the node's /run")
	}
}

func readTunables(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	for key := range kernelTunables {
		b, err := os.ReadFile("/proc/sys/" + key)
		if err != nil {
			t.Fatal(err)
		}
		m[key] = strings.TrimSpace(string(b))
	}
	return m
}

func nsOf(t *testing.T, pid int, kind string) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// nsOfPath is the "net:[inode]" of a bind-mounted netns file.
func nsOfPath(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("net:[%d]", st.Sys().(*syscall.Stat_t).Ino)
}

// runtimeNode starts one node's containerd with the pause image and no
// kubelet (its kube URL a free port nobody serves), on a fabric of its
// own. stop tears it down once; a test that does not call it has it
// called at cleanup.
func runtimeNode(t *testing.T) (c *Cluster, n *Node, kubeURL string, stop func() error) {
	t.Helper()
	c = &Cluster{Name: "mcni-" + randomHex(3), Dir: t.TempDir()}
	c.FabricNS = c.Name + "-fabric"
	n = c.newNode(0)
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		return c.Stop()
	}
	t.Cleanup(func() { _ = stop() })
	if err := addFabric(c.FabricNS); err != nil {
		t.Fatal(err)
	}
	if err := addNodeNet(c.FabricNS, n.NetNS, n.Name, 0, 1); err != nil {
		t.Fatal(err)
	}
	c.Nodes = append(c.Nodes, n)
	pauseTar, err := buildPause(filepath.Join(c.Dir, "pause.tar"))
	if err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	kubeURL = fmt.Sprintf("https://127.0.0.1:%d", port)
	if err := n.startRuntime(kubeURL, nil, []string{pauseTar}); err != nil {
		t.Fatal(err)
	}
	return c, n, kubeURL, stop
}
