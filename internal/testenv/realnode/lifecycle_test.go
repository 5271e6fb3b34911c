package realnode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// TestRebootWipesOnlyWhatLivesOnRun: a reboot empties the node's /run and
// containerd's state dir, and keeps every dir a real node has on disk.
func TestRebootWipesOnlyWhatLivesOnRun(t *testing.T) {
	c := &Cluster{Name: "mcni-" + randomHex(3), Dir: t.TempDir()}
	n := c.newNode(0)
	wiped := []string{
		n.path("run", "containerd", "s", "shim.sock"),
		n.path("run", "meta-cni", "node.sock"),
		n.path("containerd", "state", "io.containerd.grpc.v1.cri", "sandboxes", "x", "netns"),
	}
	kept := []string{
		n.path("containerd", "root", "io.containerd.metadata.v1.bolt", "meta.db"),
		n.path("kubelet", "pods", "uid", "etc-hosts"),
		n.path("var-lib", "cni", "results", "cluster-x-eth0"),
		n.path("var-lib", "meta-cni", "x"),
		filepath.Join(n.IPAMDir, "cluster", "10.244.0.2"),
		filepath.Join(n.CNIConfDir, ChartConfName),
		filepath.Join(n.CNIBinDir, "meta-cni"),
	}
	for _, f := range append(append([]string{}, wiped...), kept...) {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.wipeVolatile(); err != nil {
		t.Fatal(err)
	}
	for _, f := range wiped {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s survived the reboot (%v): it lives on /run", f, err)
		}
	}
	for _, f := range kept {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s lost in the reboot: it lives on disk: %v", f, err)
		}
	}
	for _, d := range n.volatileDirs() {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s gone after the reboot (%v): a fresh tmpfs is empty, not missing", d, err)
		}
	}
}

// TestPowerOffKillsTheNodeAndItBootsOnTheSameRoot runs one node's
// containerd (no kubelet): a power-off leaves no process, mount namespace,
// netns or uplink of the node, and a boot brings containerd up in a new
// mount namespace with the images its root kept, the leak check clean for
// both boots after Stop.
func TestPowerOffKillsTheNodeAndItBootsOnTheSameRoot(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "containerd")
	c, n, kubeURL, stop := runtimeNode(t)
	first := c.State()
	// A tmpfs only the first boot's mount namespace has: a power loss
	// takes it, as it takes every mount of the node.
	marker := n.path("power-marker")
	if err := os.MkdirAll(marker, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nsenter", fmt.Sprintf("--target=%d", n.holder.pid()), "--mount", "mount", "-t", "tmpfs", "marker", marker).CombinedOutput(); err != nil {
		t.Fatalf("mount a marker in the node's mount namespace: %v: %s", err, out)
	}

	if err := c.PowerOff(n); err != nil {
		t.Fatalf("power off: %v", err)
	}
	// The fabric stays: only the node is gone.
	if err := Leaks(State{Nodes: first.Nodes}); err != nil {
		t.Errorf("left after power off (a dead node has nothing running):\n%v", err)
	}
	if exec.Command("ip", "-n", c.FabricNS, "link", "show", n.Name).Run() == nil {
		t.Errorf("uplink %s still on the fabric after power off", n.Name)
	}
	for _, d := range n.volatileDirs() {
		if entries, err := os.ReadDir(d); err != nil || len(entries) > 0 {
			t.Errorf("%s after power off holds %d entries (%v): it is a tmpfs on a real node", d, len(entries), err)
		}
	}

	if err := c.bootRuntime(n, kubeURL, nil); err != nil {
		t.Fatalf("boot: %v", err)
	}
	// Namespace inode numbers are reused once freed, so the mounts tell
	// the boot's namespace from the last one, not the number.
	if mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", n.holder.pid())); err != nil || strings.Contains(string(mounts), " "+marker+" ") {
		t.Errorf("the booted node's mount namespace %s still has the first boot's mount on %s (%v): its mounts survived the power loss", n.MntNS, marker, err)
	}
	out, err := exec.Command("ctr", "-a", n.CRISocket, "-n", "k8s.io", "images", "ls", "-q").Output()
	if err != nil || !strings.Contains(string(out), PauseImage) {
		t.Errorf("pause image %s gone after the boot (containerd's root is on disk): %v %s", PauseImage, err, out)
	}
	if out, err := exec.Command("ip", "-n", n.NetNS, "-brief", "addr", "show", "dev", nodeUplink).Output(); err != nil || !strings.Contains(string(out), nodeIP(0)+"/") {
		t.Errorf("node %s booted without its uplink address %s: %v %s", n.Name, nodeIP(0), err, out)
	}

	second := c.State()
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	for _, s := range []State{first, second} {
		if err := Leaks(s); err != nil {
			t.Errorf("left on the machine:\n%v", err)
		}
	}
}
