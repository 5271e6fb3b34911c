package conformance_test

import (
	"os"
	"testing"
)

// Where the cluster network comes from, and the networks every pod gets.
func init() {
	bridgeConf := func(name, bridge, subnet string) string {
		return `{"cniVersion": "1.0.0", "name": "` + name + `", "plugins": [{"type": "bridge", "bridge": "` + bridge + `", "isGateway": true,
    "ipam": {"type": "host-local", "subnet": "` + subnet + `", "dataDir": "$DIR/ipam"}}]}`
	}
	ab := []nad{macvlanNAD("macvlan-a", "192.168.91.0/24")}
	scenarios = append(scenarios,
		&scenario{name: "cluster-network-file-path", nads: ab,
			netconf: map[string]any{"clusterNetwork": "$DIR/net.d/10-cbr0.conflist"},
			pods:    []pod{annotated("p1", "macvlan-a")},
			meta:    metaDelCleans},
		&scenario{name: "cluster-network-directory", nads: ab,
			files: map[string]string{
				"cluster.d/10-first.conflist":  bridgeConf("first", "cni0", "10.244.1.0/24"),
				"cluster.d/20-second.conflist": bridgeConf("second", "cni0", "10.244.2.0/24")},
			netconf: map[string]any{"clusterNetwork": "$DIR/cluster.d"},
			pods:    []pod{annotated("p1", "macvlan-a")}},
		&scenario{name: "cluster-network-nad",
			nads:    append([]nad{{namespace: "kube-system", name: "c-cluster-net", config: bridgeConf("c-cluster-net", "cni0", "10.244.3.0/24")}}, ab...),
			netconf: map[string]any{"clusterNetwork": "c-cluster-net"},
			pods:    []pod{annotated("p1", "macvlan-a")}},
		&scenario{name: "cluster-network-name-is-nad-and-conf",
			nads:    []nad{{namespace: "kube-system", name: "c-dual", config: bridgeConf("c-dual", "cni0", "10.244.4.0/24")}},
			files:   map[string]string{"net.d/20-dual.conflist": bridgeConf("c-dual", "cni0", "10.244.5.0/24")},
			netconf: map[string]any{"clusterNetwork": "c-dual"},
			pods:    []pod{{name: "p1"}}},
		&scenario{name: "cluster-network-missing",
			netconf: map[string]any{"clusterNetwork": "no-such-network"},
			pods:    []pod{{name: "p1"}},
			meta: func(t *testing.T, o *observation) {
				refused("p1", 7, "kube-system/no-such-network", `field "clusterNetwork"`, "meta-cni's conf")(t, o)
				deletedClean("p1")(t, o)
			}},
		&scenario{name: "delegates-inline", nads: ab,
			netconf: map[string]any{"clusterNetwork": "", "delegates": []any{
				map[string]any{"cniVersion": "1.0.0", "name": "cbr0", "type": "bridge", "bridge": "cni0", "isGateway": true,
					"ipam": map[string]any{"type": "host-local", "subnet": "10.244.1.0/24", "dataDir": "$DIR/ipam"}},
				map[string]any{"cniVersion": "1.0.0", "name": "inline-side", "type": "macvlan", "master": "$MASTER", "mode": "bridge",
					"ipam": map[string]any{"type": "host-local", "subnet": "192.168.98.0/24", "dataDir": "$DIR/ipam"}}}},
			pods: []pod{annotated("p1", "macvlan-a")}},
		&scenario{name: "default-network-override-qualified", nads: ab,
			pods: []pod{{name: "p1", annotations: map[string]string{defaultNetworkAnnot: "$NS/macvlan-a"}}}},
		&scenario{name: "default-network-override-unqualified",
			nads: []nad{macvlanNAD("c-underlay", "192.168.99.0/24"),
				{namespace: "kube-system", name: "c-underlay", config: `{"cniVersion": "1.0.0", "type": "macvlan", "master": "$MASTER", "mode": "bridge",
  "ipam": {"type": "host-local", "subnet": "192.168.100.0/24", "dataDir": "$DIR/ipam"}}`}},
			pods: []pod{{name: "p1", annotations: map[string]string{defaultNetworkAnnot: "c-underlay"}}}},
		&scenario{name: "default-networks-and-system-namespaces",
			nads: []nad{{namespace: "kube-system", name: "c-everyone", config: `{"cniVersion": "1.0.0", "type": "macvlan", "master": "$MASTER", "mode": "bridge",
  "ipam": {"type": "host-local", "subnet": "192.168.101.0/24", "dataDir": "$DIR/ipam"}}`},
				macvlanNAD("macvlan-a", "192.168.91.0/24"),
				{namespace: "kube-system", name: "c-system-own", config: `{"cniVersion": "1.0.0", "type": "macvlan", "master": "$MASTER", "mode": "bridge",
  "ipam": {"type": "host-local", "subnet": "192.168.102.0/24", "dataDir": "$DIR/ipam"}}`}},
			netconf: map[string]any{"defaultNetworks": []string{"c-everyone"}, "systemNamespaces": []string{"kube-system"}},
			pods: []pod{{name: "plain"}, annotated("annotated", "macvlan-a"),
				{name: "c-system-pod", namespace: "kube-system", annotations: map[string]string{networksAnnot: "c-system-own"}}}},
		&scenario{name: "readiness-indicator-file-appears",
			netconf: map[string]any{"readinessindicatorfile": "$DIR/ready"},
			prepare: func(r *run) {
				go func() {
					sleepSeconds(1.5)
					_ = os.WriteFile(r.dir+"/ready", []byte("ok"), 0o644)
				}()
			},
			pods: []pod{{name: "p1"}}},
	)
}

// deletedClean asserts that meta-cni's DEL of pod succeeded and left nothing
// on the node, where Multus fails it (and leaks).
func deletedClean(pod string) func(t *testing.T, o *observation) {
	return func(t *testing.T, o *observation) {
		if o.Del[pod] != "ok" {
			t.Errorf("DEL %s: %s (%v), want ok", pod, o.Del[pod], o.Errs["DEL "+pod])
		}
		if len(o.Left) != 0 {
			t.Errorf("DEL left %v on the node", o.Left)
		}
	}
}
