package realnode

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

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

// A node's mount namespace is known by its number only while it lives,
// and the kernel gives a freed number to the next namespace made, maybe
// another test's. Leaks and Teardown therefore look in it, and kill in
// it, only while its holder still holds it: a process in it (here a
// second sleep) is found and killed with the holder; once the holder is
// gone, a process in a namespace with that number is none of the node's.
func TestMountNamespaceIsTiedToItsHolder(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTools(t, "unshare", "nsenter")
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "--", "sleep", "300")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = holder.Wait() }()
	t.Cleanup(func() { _ = holder.Process.Kill() })
	var mntns string
	for i := 0; i < 100 && (mntns == "" || mntns == selfMntNS(t)); i++ {
		mntns, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid))
		time.Sleep(10 * time.Millisecond)
	}
	if mntns == selfMntNS(t) {
		t.Fatal("unshare never entered a mount namespace of its own")
	}
	inside := exec.Command("nsenter", fmt.Sprintf("--target=%d", holder.Process.Pid), "--mount", "--", "sleep", "300")
	if err := inside.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = inside.Wait() }()
	t.Cleanup(func() { _ = inside.Process.Kill() })
	s := State{Name: "mcni-" + randomHex(3), Nodes: []NodeState{{Name: "n", MntNS: mntns, Holder: holder.Process.Pid}}}
	waitFor(t, func() bool { return slices.Contains(mntNSPIDs(mntns), inside.Process.Pid) })

	if err := Leaks(s); err == nil || !strings.Contains(err.Error(), fmt.Sprint(inside.Process.Pid)) {
		t.Fatalf("Leaks = %v, want the process in the holder's mount namespace named", err)
	}
	if err := Teardown(s); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !alive(inside.Process.Pid) && !alive(holder.Process.Pid) })
	if err := Leaks(s); err != nil {
		t.Errorf("after Teardown, still left:\n%v", err)
	}
	// The holder is gone: its number no longer pins anything, whatever
	// now runs under it.
	if pin := pinMntNS(holder.Process.Pid, mntns); pin != nil {
		pin.Close()
		t.Errorf("a dead holder's mount namespace was pinned")
	}
	if pin := pinMntNS(os.Getpid(), mntns); pin != nil {
		pin.Close()
		t.Errorf("a process in another mount namespace pinned %s", mntns)
	}
}

func selfMntNS(t *testing.T) string {
	t.Helper()
	link, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	return link
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 5s")
}
