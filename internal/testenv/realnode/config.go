package realnode

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// containerdConfig is config version 2 for containerd 1.6, per
// docs in /work/shared/REAL-NODE.md: every path under the node's dir, and
// the CRI settings this machine needs (restrict_oom_score_adj because root
// here lacks CAP_SYS_RESOURCE).
func (n *Node) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = %[5]q

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[6]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[7]q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[8]q
    conf_dir = %[9]q
    max_conf_num = 1
`, n.path("containerd", "root"), n.path("containerd", "state"), n.CRISocket, n.CRISocket+".ttrpc",
		n.path("containerd", "debug.sock"), n.path("containerd", "opt"), PauseImage, n.CNIBinDir, n.CNIConfDir)
}

// kubeletConfig is the KubeletConfiguration of REAL-NODE.md: its API on
// the node's fabric address (the API server reaches it there for logs and
// exec, see egressProxy), its other ports on loopback, no iptables, no image GC or eviction, and open auth for a
// test node. Unlike there, QoS cgroups are on: only then do pods go under
// the node's own cgroup root (with them off, containerd puts every pod of
// every node under one /k8s.io), so teardown finds each node's pods even
// after their shims are gone, and two nodes never share a cgroup.
func (n *Node) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
containerRuntimeEndpoint: unix://%s
cgroupDriver: cgroupfs
cgroupsPerQOS: true
cgroupRoot: /%s
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false
makeIPTablesUtilChains: false
podLogsDir: %s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Ki"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
registerNode: true
syncFrequency: 10s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 5s
`, n.IP, n.CRISocket, n.CgroupRoot, n.path("pod-logs"))
}

// clusterConflist is the cluster network standing in for flannel or
// calico: a bridge with host-local addresses from the node's own subnet,
// its IPAM files under the node's dir.
func (n *Node) clusterConflist() ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0",
		"name":       n.ClusterNetwork,
		"plugins": []any{map[string]any{
			"type":      "bridge",
			"bridge":    "cni0",
			"isGateway": true,
			"ipMasq":    false,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": n.PodSubnet}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": n.IPAMDir,
			},
		}},
	}, "", "  ")
}

// kernelTunables are the sysctls the kubelet sets at start-up if they
// differ (pkg/kubelet/cm setupKernelTunables). Some are host-wide, so each
// differing one is covered, inside the node's mount namespace only, by a
// file holding the wanted value.
var kernelTunables = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// sysctlMounts writes the covering files and returns the shell lines that
// bind-mount them.
func (n *Node) sysctlMounts() ([]string, error) {
	var lines []string
	dir := n.path("sysctl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for key, want := range kernelTunables {
		have, err := os.ReadFile("/proc/sys/" + key)
		if err != nil || strings.TrimSpace(string(have)) == want {
			continue
		}
		file := filepath.Join(dir, strings.ReplaceAll(key, "/", "."))
		if err := os.WriteFile(file, []byte(want+"\n"), 0o644); err != nil {
			return nil, err
		}
		lines = append(lines, fmt.Sprintf("mount --bind %q /proc/sys/%s", file, key))
	}
	return lines, nil
}
