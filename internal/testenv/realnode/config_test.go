package realnode

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func testNode(t *testing.T) *Node {
	c := &Cluster{Name: "mcni-abc123", Dir: t.TempDir()}
	return c.newNode(1)
}

// TestConfigsKeepEveryPathInTheNodeDir: containerd's and the kubelet's
// files, sockets and logs all go under the node's dir, so nothing lands in
// the machine's /var/lib/containerd, /var/lib/kubelet or /var/log/pods.
func TestConfigsKeepEveryPathInTheNodeDir(t *testing.T) {
	n := testNode(t)
	quoted := regexp.MustCompile(`"(/[^"]*)"`)
	for _, m := range quoted.FindAllStringSubmatch(n.containerdConfig(), -1) {
		if !strings.HasPrefix(m[1], n.Dir+"/") {
			t.Errorf("containerd config path %s is outside the node dir %s", m[1], n.Dir)
		}
	}
	var kc map[string]any
	if err := yaml.Unmarshal([]byte(n.kubeletConfig()), &kc); err != nil {
		t.Fatalf("kubelet config is not YAML: %v", err)
	}
	if got := kc["podLogsDir"].(string); !strings.HasPrefix(got, n.Dir+"/") {
		t.Errorf("podLogsDir %s is outside the node dir", got)
	}
	if got := kc["containerRuntimeEndpoint"]; got != "unix://"+n.CRISocket {
		t.Errorf("containerRuntimeEndpoint %v, want the node's socket %s", got, n.CRISocket)
	}
}

// TestKubeletConfigLeavesTheMachineAlone: the settings without which the
// kubelet would change the shared machine (iptables, ports on the host,
// QoS cgroups at the root) or refuse this machine (swap, cgroup v1).
func TestKubeletConfigLeavesTheMachineAlone(t *testing.T) {
	n := testNode(t)
	var kc map[string]any
	if err := yaml.Unmarshal([]byte(n.kubeletConfig()), &kc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"makeIPTablesUtilChains": false,
		"address":                n.IP,
		"healthzBindAddress":     "127.0.0.1",
		"readOnlyPort":           float64(0),
		"cgroupsPerQOS":          true,
		"cgroupRoot":             "/" + n.CgroupRoot,
		"failSwapOn":             false,
		"failCgroupV1":           false,
		"cgroupDriver":           "cgroupfs",
	}
	for k, v := range want {
		if kc[k] != v {
			t.Errorf("kubelet config %s = %v, want %v", k, kc[k], v)
		}
	}
}

// TestClusterConflistUsesTheNodesSubnet: one pod subnet per node, a default
// route, and host-local's files in the node dir.
func TestClusterConflistUsesTheNodesSubnet(t *testing.T) {
	n := testNode(t)
	b, err := n.clusterConflist()
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Plugins []struct {
			IPAM struct {
				Ranges  [][]map[string]string `json:"ranges"`
				Routes  []map[string]string   `json:"routes"`
				DataDir string                `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	ipam := conf.Plugins[0].IPAM
	if got := ipam.Ranges[0][0]["subnet"]; got != "10.244.1.0/24" {
		t.Errorf("node1's pod subnet %s, want 10.244.1.0/24", got)
	}
	if len(ipam.Routes) != 1 || ipam.Routes[0]["dst"] != "0.0.0.0/0" {
		t.Errorf("routes %v, want a default route", ipam.Routes)
	}
	if ipam.DataDir != n.IPAMDir {
		t.Errorf("host-local dataDir %s, want %s", ipam.DataDir, n.IPAMDir)
	}
}
