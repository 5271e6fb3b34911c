package realnode

import (
	"net"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestKubeProxyConfigWritesNothingHostWide: every conntrack setting at
// zero (kube-proxy then skips nf_conntrack_max, the conntrack hash size
// and the timeouts: the first two are host-wide whatever the netns), no
// route_localnet, its ports on the node's loopback, and the node's name
// and the cluster's pod CIDR.
func TestKubeProxyConfigWritesNothingHostWide(t *testing.T) {
	n := testNode(t)
	var kc map[string]any
	if err := yaml.Unmarshal([]byte(n.kubeProxyConfig("/k/kubeconfig")), &kc); err != nil {
		t.Fatalf("kube-proxy config is not YAML: %v", err)
	}
	want := map[string]any{
		"kind":               "KubeProxyConfiguration",
		"mode":               "iptables",
		"hostnameOverride":   n.Name,
		"clusterCIDR":        ClusterCIDR,
		"detectLocalMode":    "ClusterCIDR",
		"healthzBindAddress": "127.0.0.1:10256",
		"metricsBindAddress": "127.0.0.1:10249",
		"clientConnection":   map[string]any{"kubeconfig": "/k/kubeconfig"},
		"conntrack": map[string]any{
			"maxPerCore": float64(0), "min": float64(0),
			"tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s",
		},
	}
	for k, v := range want {
		if !reflect.DeepEqual(kc[k], v) {
			t.Errorf("kube-proxy config %s = %v, want %v", k, kc[k], v)
		}
	}
	if ipt, _ := kc["iptables"].(map[string]any); ipt["localhostNodePorts"] != false {
		t.Errorf("iptables.localhostNodePorts = %v, want false (true sets route_localnet)", ipt["localhostNodePorts"])
	}
	_, cidr, _ := net.ParseCIDR(ClusterCIDR)
	for _, i := range []int{0, 1, 7} {
		if ip, _, _ := net.ParseCIDR(podSubnet(i)); !cidr.Contains(ip) {
			t.Errorf("cluster CIDR %s does not hold node %d's pod subnet %s", ClusterCIDR, i, podSubnet(i))
		}
	}
}
