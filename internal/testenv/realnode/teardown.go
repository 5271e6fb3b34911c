package realnode

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupMount is where this machine's cgroup v1 hierarchies are mounted.
const cgroupMount = "/sys/fs/cgroup"

// stop tears the node down in the order that leaves nothing behind
// (REAL-NODE.md): the caller has deleted the pods; wait until the CRI has
// no tasks, SIGTERM the kubelet then containerd, SIGKILL what is left in
// the node's cgroups and mount namespace, then rmdir the cgroups.
func (n *Node) stop() error {
	var errs []error
	if n.containerd != nil && n.containerd.running() {
		if err := n.waitNoTasks(30 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	n.kubeProxy.stop(5 * time.Second)
	n.kubelet.stop(10 * time.Second)
	n.containerd.stop(10 * time.Second)
	for _, f := range n.forwards {
		f.Close()
	}
	// The shims run in their own mount namespace and containerd's cgroup,
	// and outlive containerd: found by the socket they were started for.
	killPIDs(func() []int { return shimPIDs(n.CRISocket) })
	killPIDs(func() []int { return cgroupPIDs(n.CgroupRoot) })
	killMntNS(n.holderPID(), n.MntNS)
	n.holder.stop(time.Second)
	if err := removeCgroups(n.CgroupRoot); err != nil {
		errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
	}
	return errors.Join(errs...)
}

// waitNoTasks waits until containerd runs no container: the kubelet has
// then stopped every sandbox, so the CNI DELs have run.
func (n *Node) waitNoTasks(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var out []byte
	for time.Now().Before(deadline) {
		var err error
		out, err = exec.Command("ctr", "-a", n.CRISocket, "-n", "k8s.io", "tasks", "ls", "-q").Output()
		if err != nil || len(strings.TrimSpace(string(out))) == 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("node %s: containerd still runs tasks after %s: %s", n.Name, timeout, strings.Fields(string(out)))
}

// cgroupDirs lists the dirs of a cgroup root on every hierarchy, deepest
// first so they can be removed in order.
func cgroupDirs(root string) []string {
	// A node's root is one path element of our own (<cluster>-<node>):
	// anything else, above all "" or "/", would name the whole machine's
	// cgroups, and teardown kills every process in what this returns.
	if !ownCgroupRoot(root) {
		return nil
	}
	var dirs []string
	hier, _ := filepath.Glob(filepath.Join(cgroupMount, "*", root))
	for _, h := range hier {
		_ = filepath.WalkDir(h, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	return dirs
}

// ownCgroupRoot says whether root is a cgroup name this harness makes: a
// single element, with the cluster prefix.
func ownCgroupRoot(root string) bool {
	return strings.HasPrefix(root, clusterPrefix) && !strings.ContainsAny(root, "/.")
}

// cgroupPIDs are the processes in any of root's cgroups.
func cgroupPIDs(root string) []int {
	var pids []int
	for _, d := range cgroupDirs(root) {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// killPIDs SIGKILLs the processes list finds until it finds none: the
// pods' processes (each pause is PID 1 of its own PID namespace and
// outlives containerd and its shim) or the shims. It keeps at it for 10 s:
// a process in uninterruptible sleep (I/O on a loaded machine) dies only
// when that returns; 1 s once let one outlive teardown at load 50.
func killPIDs(list func() []int) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		pids := list()
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procPIDs are the running processes for which match holds.
func procPIDs(match func(pid int) bool) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && match(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mntNSPIDs are the processes in the mount namespace mntns ("mnt:[inode]"):
// containerd's shims end up there and in no cgroup of ours. The inode
// names the namespace only while it lives (the kernel hands a freed one
// to the next namespace made), so callers hold it open (pinMntNS).
func mntNSPIDs(mntns string) []int {
	return procPIDs(func(pid int) bool {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
		return err == nil && link == mntns
	})
}

// pinMntNS opens the mount namespace of holder, the process that made
// it, if it is still mntns: while the file is open the namespace lives,
// so its inode cannot name another test's namespace, even once every
// process in it is gone. It returns nil when the holder is gone or in
// another namespace: the node's namespace is then gone too, or cannot be
// told from a newer one with its number.
func pinMntNS(holder int, mntns string) *os.File {
	if holder <= 0 || mntns == "" {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", holder))
	if err != nil {
		return nil
	}
	if link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err != nil || link != mntns {
		f.Close()
		return nil
	}
	return f
}

// shimPIDs are the containerd shims started for the containerd serving
// socket: their command line names it after -address.
func shimPIDs(socket string) []int {
	return procPIDs(func(pid int) bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			return false
		}
		args := strings.Split(string(b), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == socket {
				return true
			}
		}
		return false
	})
}

// killMntNS SIGKILLs every process in the node's mount namespace, the
// holder's, while it holds the namespace open (pinMntNS); with the holder
// already gone it does nothing, as what of the node could still run is
// found by its cgroups and shim socket instead.
func killMntNS(holder int, mntns string) {
	// Never the harness's own namespace: that would kill everything.
	if self, err := os.Readlink("/proc/self/ns/mnt"); err != nil || self == mntns {
		return
	}
	pin := pinMntNS(holder, mntns)
	if pin == nil {
		return
	}
	defer pin.Close()
	killPIDs(func() []int { return mntNSPIDs(mntns) })
}

// makeCgroups creates the node's cgroup root on every hierarchy: the
// kubelet requires it to exist. A new cpuset has no CPUs or memory nodes
// until given its parent's.
func makeCgroups(root string) error {
	hier, err := filepath.Glob(filepath.Join(cgroupMount, "*"))
	if err != nil {
		return err
	}
	for _, h := range hier {
		if _, err := os.Stat(filepath.Join(h, "cgroup.procs")); err != nil {
			continue // not a hierarchy
		}
		dir := filepath.Join(h, root)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return fmt.Errorf("cgroup %s: set %s: %w", dir, f, err)
				}
			}
		}
	}
	return nil
}

func removeCgroups(root string) error {
	var errs []error
	for _, d := range cgroupDirs(root) {
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}
