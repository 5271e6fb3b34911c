package realnode

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/meta-cni/meta-cni/internal/testenv"
)

// TaskPIDs are the PIDs of every container task containerd runs on the
// node, the pause processes included.
func (n *Node) TaskPIDs() ([]int, error) {
	out, err := exec.Command("ctr", "-a", n.CRISocket, "-n", "k8s.io", "tasks", "ls").Output()
	if err != nil {
		return nil, fmt.Errorf("node %s: list tasks: %w", n.Name, err)
	}
	var pids []int
	for _, line := range strings.Split(string(out), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 3 && f[2] == "RUNNING" {
			if pid, err := strconv.Atoi(f[1]); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
}

// PodNetNS opens the netns of the pod that has ip on this node. The pods'
// netns files live in the node's private mount namespace, so it goes by
// the tasks' /proc entries instead. Close it when done.
func (n *Node) PodNetNS(ip string) (ns.NetNS, error) {
	pids, err := n.TaskPIDs()
	if err != nil {
		return nil, err
	}
	for _, pid := range pids {
		netns, err := ns.GetNS(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			continue
		}
		ips, err := testenv.LinkAddrs(netns, "eth0")
		if err == nil {
			for _, a := range ips {
				if a.Equal(net.ParseIP(ip)) {
					return netns, nil
				}
			}
		}
		netns.Close()
	}
	return nil, fmt.Errorf("node %s: no pod with IP %s among tasks %v", n.Name, ip, pids)
}
