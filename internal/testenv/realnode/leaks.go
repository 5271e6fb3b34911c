package realnode

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// State is what a cluster leaves on the machine while it runs, recorded
// so Leaks can prove it is all gone, also from another process (make
// node-down).
type State struct {
	Name     string      `json:"name"`
	Dir      string      `json:"dir"`
	FabricNS string      `json:"fabricNS"`
	PIDs     []int       `json:"pids"`
	Nodes    []NodeState `json:"nodes"`
}

// NodeState is one node's part of State.
type NodeState struct {
	Name       string `json:"name"`
	NetNS      string `json:"netns"`
	CgroupRoot string `json:"cgroupRoot"`
	MntNS      string `json:"mntns"`
	Holder     int    `json:"holder"` // the process that made MntNS and holds it
	CRISocket  string `json:"criSocket"`
	PIDs       []int  `json:"pids"`
}

// State records the cluster's processes, namespaces and cgroups.
func (c *Cluster) State() State {
	s := State{Name: c.Name, Dir: c.Dir, FabricNS: c.FabricNS}
	for _, p := range c.controllers {
		s.PIDs = append(s.PIDs, p.pid())
	}
	for _, n := range c.Nodes {
		s.Nodes = append(s.Nodes, NodeState{Name: n.Name, NetNS: n.NetNS, CgroupRoot: n.CgroupRoot, MntNS: n.MntNS, Holder: n.holderPID(), CRISocket: n.CRISocket, PIDs: n.PIDs()})
	}
	return s
}

// Leaks lists what of the cluster is still on the machine: a process it
// started or one in a node's cgroups or mount namespace, a netns, a mount
// under its dir, a cgroup, or a host link named after it. Empty is clean.
func Leaks(s State) error {
	var errs []error
	for _, pid := range s.PIDs {
		if alive(pid) {
			errs = append(errs, fmt.Errorf("control-plane process %d still runs", pid))
		}
	}
	netnsNames := []string{s.FabricNS}
	for _, n := range s.Nodes {
		netnsNames = append(netnsNames, n.NetNS)
		for _, pid := range n.PIDs {
			if alive(pid) {
				errs = append(errs, fmt.Errorf("node %s: process %d still runs", n.Name, pid))
			}
		}
		if pids := cgroupPIDs(n.CgroupRoot); len(pids) > 0 {
			errs = append(errs, fmt.Errorf("node %s: processes %v still in cgroup %s", n.Name, pids, n.CgroupRoot))
		}
		if pids := shimPIDs(n.CRISocket); len(pids) > 0 {
			errs = append(errs, fmt.Errorf("node %s: containerd shims %v still run", n.Name, pids))
		}
		if dirs := cgroupDirs(n.CgroupRoot); len(dirs) > 0 {
			errs = append(errs, fmt.Errorf("node %s: cgroups left: %v", n.Name, dirs))
		}
		// Looked for only while the namespace is provably the node's; once
		// its holder is gone, a process with its number may be in another
		// test's namespace, and one of ours would be in a cgroup above.
		if pin := pinMntNS(n.Holder, n.MntNS); pin != nil {
			if pids := mntNSPIDs(n.MntNS); len(pids) > 0 {
				errs = append(errs, fmt.Errorf("node %s: processes %v still in mount namespace %s", n.Name, pids, n.MntNS))
			}
			pin.Close()
		}
	}
	for _, name := range netnsNames {
		if name == "" {
			continue
		}
		if _, err := os.Stat(netnsPath(name)); err == nil {
			errs = append(errs, fmt.Errorf("netns %s left", name))
		}
	}
	if m, err := mountsUnder(s.Dir); err != nil {
		errs = append(errs, err)
	} else if len(m) > 0 {
		errs = append(errs, fmt.Errorf("mounts left under %s: %v", s.Dir, m))
	}
	ifs, err := net.Interfaces()
	if err != nil {
		errs = append(errs, err)
	}
	for _, i := range ifs {
		if s.Name != "" && strings.HasPrefix(i.Name, s.Name) {
			errs = append(errs, fmt.Errorf("host link %s left", i.Name))
		}
	}
	return errors.Join(errs...)
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie is dead; only its parent has not waited for it yet.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) == 0 || f[0] != "Z"
}

// mountsUnder lists the host's mount points under dir.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			found = append(found, fields[4])
		}
	}
	return found, sc.Err()
}

// Teardown removes what State records when the process that started the
// cluster is gone (make node-down after a crash): the recorded processes,
// every process in the nodes' cgroups and mount namespaces, the cgroups
// and the netns. Leaks then tells what it could not remove.
func Teardown(s State) error {
	for _, pid := range s.PIDs {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	var errs []error
	for _, n := range s.Nodes {
		for _, pid := range n.PIDs {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		killPIDs(func() []int { return shimPIDs(n.CRISocket) })
		killPIDs(func() []int { return cgroupPIDs(n.CgroupRoot) })
		killMntNS(n.Holder, n.MntNS)
		if err := removeCgroups(n.CgroupRoot); err != nil {
			errs = append(errs, err)
		}
		if err := delNetns(n.NetNS); err != nil {
			errs = append(errs, err)
		}
	}
	if err := delNetns(s.FabricNS); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
