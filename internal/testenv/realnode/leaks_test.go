package realnode

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// TestLeaksNamesWhatIsLeftAndTeardownRemovesIt: the leak check is what the
// real-node tests trust for "nothing left", so it must see a left process
// and netns, and Teardown (make node-down's fallback) must remove them.
func TestLeaksNamesWhatIsLeftAndTeardownRemovesIt(t *testing.T) {
	testenv.RequireRoot(t)
	s := State{Name: "mcni-" + randomHex(3), Dir: t.TempDir()}
	s.FabricNS = s.Name + "-fabric"
	t.Cleanup(func() { _ = delNetns(s.FabricNS) })
	if err := addFabric(s.FabricNS); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "300")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = sleep.Wait() }()
	t.Cleanup(func() { _ = sleep.Process.Kill() })
	s.PIDs = []int{sleep.Process.Pid}

	err := Leaks(s)
	if err == nil {
		t.Fatal("Leaks found nothing, want the process and the netns")
	}
	for _, want := range []string{"process", s.FabricNS} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Leaks = %q, want it to name the %s", err, want)
		}
	}
	if err := Teardown(s); err != nil {
		t.Fatal(err)
	}
	// The killed sleep may be a zombie for a moment; alive() counts it dead.
	if err := Leaks(s); err != nil {
		t.Errorf("after Teardown, still left:\n%v", err)
	}
}

// Teardown kills every process in a node's cgroups: a cgroup root that is
// empty, "/", nested or not this harness's names nothing, whatever state
// file it comes from.
func TestOnlyOwnCgroupRootsNameProcesses(t *testing.T) {
	for _, root := range []string{"", "/", ".", "..", "mcni-abc/..", "/mcni-abc", "system.slice", "k8s.io"} {
		if dirs := cgroupDirs(root); dirs != nil {
			t.Errorf("cgroup root %q names %d cgroups, want none", root, len(dirs))
		}
		if pids := cgroupPIDs(root); len(pids) > 0 {
			t.Errorf("cgroup root %q names %d processes, want none", root, len(pids))
		}
	}
	if !ownCgroupRoot("mcni-abc123-node1") {
		t.Errorf("a node's own cgroup root is refused")
	}
}
